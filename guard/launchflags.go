package guard

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// flagScan holds the last value of each flag of interest in a command's
// arguments (the last one wins, as with argparse and OptionParser).
type flagScan map[string]string

// scanFlags finds names (long "--keep-alive" or short "-k") in args, in
// the forms "--flag value", "--flag=value" and, for a short flag,
// "-kvalue". The value is normalised to the flag's first name.
func scanFlags(args []string, names ...[]string) flagScan {
	out := flagScan{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		for _, aliases := range names {
			for _, f := range aliases {
				short := len(f) == 2 && f[0] == '-'
				switch {
				case a == f && i+1 < len(args):
					out[aliases[0]] = args[i+1]
				case strings.HasPrefix(a, f+"="):
					out[aliases[0]] = a[len(f)+1:]
				case short && strings.HasPrefix(a, f) && len(a) > 2 && !strings.HasPrefix(a, "--"):
					out[aliases[0]] = a[2:]
				default:
					continue
				}
			}
		}
	}
	return out
}

// programArgs finds the runtime in argv — an executable named like it
// (after wrappers such as exec, env, bundle exec, poetry run), or a
// Python module run with -m — and returns the arguments after it.
func programArgs(argv []string, programs []string) ([]string, bool) {
	for i, a := range argv {
		if slices.Contains(programs, path.Base(a)) {
			return argv[i+1:], true
		}
		if a == "-m" && i+1 < len(argv) && slices.Contains(programs, argv[i+1]) {
			return argv[i+2:], true
		}
	}
	return nil, false
}

// launchRuntime reads one runtime's keep-alive from a launch.
type launchRuntime struct {
	programs []string
	value    func(c *readConfig, l launch, args []string) (Value, error)
}

var launchRuntimes = map[string]launchRuntime{
	"gunicorn": {[]string{"gunicorn"}, gunicornLaunch},
	"uvicorn":  {[]string{"uvicorn"}, uvicornLaunch},
	"puma":     {[]string{"puma"}, pumaLaunch},
	"varnish":  {[]string{"varnishd"}, varnishLaunch},
}

// where names a launch in explanations: "service web", "container
// web/app", "process web".
func (l launch) where(format string) string {
	switch format {
	case formatCompose:
		return "service " + l.name
	case formatKubernetes:
		return "container " + l.name
	case formatProcfile:
		return "process " + l.name
	}
	return "command"
}

// secondsValue turns a whole-seconds setting into a Value; zero is off.
func secondsValue(l launch, setting, val, how string) (Value, error) {
	d, err := parseWholeUnits(val, time.Second, "seconds")
	if err != nil {
		return Value{}, fmt.Errorf("%s: %s %w", l.src, setting, err)
	}
	v := Value{Source: l.src, Name: l.name, Explanation: fmt.Sprintf("%s %s (whole seconds, %s)", setting, val, how)}
	if d == 0 {
		v.State, v.Explanation = StateOff, fmt.Sprintf("%s 0 (%s): keep-alive off", setting, how)
	} else {
		v.State, v.Duration = StateFinite, d
	}
	return v, nil
}

func gunicornLaunch(_ *readConfig, l launch, args []string) (Value, error) {
	if env := l.env["GUNICORN_CMD_ARGS"]; env != "" {
		// gunicorn reads GUNICORN_CMD_ARGS before its command line, which
		// overrides it.
		ls, err := shellLaunches(l.src, 0, "", "gunicorn "+env, nil)
		if err == nil && len(ls) == 1 {
			args = append(ls[0].argv[1:], args...)
		}
	}
	f := scanFlags(args, []string{"--keep-alive"}, []string{"-k", "--worker-class"}, []string{"--threads"}, []string{"-c", "--config"})
	var v Value
	if ka, ok := f["--keep-alive"]; ok {
		var err error
		if v, err = secondsValue(l, "--keep-alive", ka, "gunicorn's unit"); err != nil {
			return Value{}, fmt.Errorf("read gunicorn: %w", err)
		}
	} else {
		v = Value{State: StateFinite, Duration: gunicornIdleDefault, Default: true, Source: l.src, Name: l.name,
			Explanation: "--keep-alive not given: gunicorn's default 2s"}
		if conf, ok := f["-c"]; ok {
			v.Notes = append(v.Notes, fmt.Sprintf("the config file %s may set keepalive (read it with gunicorn:%s); the command line would override it", conf, conf))
		}
	}
	worker, threads := f["-k"], f["--threads"]
	multi := false
	if n, err := parseUint(threads); err == nil && n > 1 {
		multi = true
	}
	switch {
	case (worker == "sync" || strings.HasSuffix(worker, "SyncWorker")) && !multi:
		v.State, v.Duration = StateOff, 0
		v.Explanation = "worker class sync: gunicorn's sync worker closes every connection after its response, so " + v.Explanation + " is unused"
	case worker == "" && !multi:
		v.Notes = append(v.Notes, "no worker class given: the default sync worker closes every connection (no race); checked as a keep-alive worker (gthread, gevent, eventlet, Uvicorn), where keepalive applies")
	}
	return v, nil
}

func uvicornLaunch(_ *readConfig, l launch, args []string) (Value, error) {
	f := scanFlags(args, []string{"--timeout-keep-alive"})
	if val, ok := f["--timeout-keep-alive"]; ok {
		v, err := secondsValue(l, "--timeout-keep-alive", val, "uvicorn's unit")
		if err != nil {
			return Value{}, fmt.Errorf("read uvicorn: %w", err)
		}
		return v, nil
	}
	if val, ok := l.env["UVICORN_TIMEOUT_KEEP_ALIVE"]; ok {
		v, err := secondsValue(l, "UVICORN_TIMEOUT_KEEP_ALIVE", val, "from the environment")
		if err != nil {
			return Value{}, fmt.Errorf("read uvicorn: %w", err)
		}
		return v, nil
	}
	return Value{State: StateFinite, Duration: uvicornIdleDefault, Default: true, Source: l.src, Name: l.name,
		Explanation: "--timeout-keep-alive not given: uvicorn's default 5s"}, nil
}

func pumaLaunch(c *readConfig, l launch, args []string) (Value, error) {
	f := scanFlags(args, []string{"-C", "--config"})
	if val, ok := l.env["PUMA_PERSISTENT_TIMEOUT"]; ok {
		v, err := secondsValue(l, "PUMA_PERSISTENT_TIMEOUT", val, "from the environment, read by Puma 7.0 and later")
		if err != nil {
			return Value{}, fmt.Errorf("read puma: %w", err)
		}
		if conf, ok := f["-C"]; ok {
			v.Notes = append(v.Notes, fmt.Sprintf("a persistent_timeout in %s would override the environment (read it with puma:%s)", conf, conf))
		}
		return v, nil
	}
	v, err := pumaDefault(c, l.src, "no persistent_timeout on the command line (Puma has no flag for it) or in PUMA_PERSISTENT_TIMEOUT")
	if err != nil {
		return Value{}, err
	}
	v.Name = l.name
	if conf, ok := f["-C"]; ok {
		v.Notes = append(v.Notes, fmt.Sprintf("the config file %s may set persistent_timeout: read it with puma:%s", conf, conf))
	}
	return v, nil
}

// found is a launch that runs the runtime and its value.
type found struct {
	l launch
	v Value
}

// readLaunches reads kind's keep-alive from every command line of a
// deployment file that runs it. Several that disagree are ambiguous
// unless one is picked by name (the service, the container or its
// workload, the process type).
func readLaunches(c *readConfig, kind, format, src string, data []byte) ([]Value, error) {
	rt, ok := launchRuntimes[kind]
	if !ok {
		return nil, fmt.Errorf("read %s: %s: a %s file holds command lines; %s's setting is not on one", kind, src, format, kind)
	}
	ls, err := launches(format, src, data)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", kind, err)
	}
	if ls, err = unwrapShells(ls, 0); err != nil {
		return nil, fmt.Errorf("read %s: %w", kind, err)
	}
	var hits []found
	var names []string
	for _, l := range ls {
		if l.name != "" && !slices.Contains(names, l.name) {
			names = append(names, l.name)
		}
		args, ok := programArgs(l.argv, rt.programs)
		var note string
		if !ok && l.argsOnly && len(l.argv) > 0 && strings.HasPrefix(l.argv[0], "-") && hasRuntimeFlag(kind, l.argv) {
			args, ok, note = l.argv, true, fmt.Sprintf("container %s has args but no command: the image's entrypoint is taken to be %s", l.name, kind)
		}
		if !ok || (c.name != "" && !launchNameMatches(l.name, c.name)) {
			continue
		}
		v, err := rt.value(c, l, args)
		if err != nil {
			return nil, err
		}
		if note != "" {
			v.Notes = append(v.Notes, note)
		}
		v.Explanation += " in " + l.where(format)
		hits = append(hits, found{l, v})
	}
	switch {
	case len(hits) == 0 && c.name != "":
		return nil, fmt.Errorf("read %s: %s: no %s command line named %q (found: %s)", kind, src, kind, c.name, strings.Join(names, ", "))
	case len(hits) == 0:
		return nil, fmt.Errorf("read %s: %s: no %s command line found", kind, src, kind)
	}
	vals := make([]Value, len(hits))
	for i, h := range hits {
		vals[i] = h.v
		if h.v.State != hits[0].v.State || h.v.Duration != hits[0].v.Duration {
			return nil, ambiguous(kind, format, hits)
		}
	}
	return vals, nil
}

// ambiguous lists the launches that disagree.
func ambiguous(kind, format string, hits []found) error {
	var b strings.Builder
	fmt.Fprintf(&b, "read %s: ambiguous: %d %s command lines set different keep-alives:", kind, len(hits), kind)
	for _, h := range hits {
		fmt.Fprintf(&b, "\n  %s: %s: %s", h.l.src, h.l.where(format), h.v.Show())
	}
	b.WriteString("\npick one with --backend-name NAME or KIND:FILE#NAME")
	return fmt.Errorf("%s", b.String())
}

// launchNameMatches picks a launch by its whole name, or for a
// Kubernetes "workload/container" by either part.
func launchNameMatches(full, name string) bool {
	if full == name {
		return true
	}
	w, c, ok := strings.Cut(full, "/")
	return ok && (w == name || c == name)
}

// hasRuntimeFlag reports a flag of kind in args (for an args-only
// container, whose program is the image's entrypoint).
func hasRuntimeFlag(kind string, args []string) bool {
	flags := entrypointFlags[kind]
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		if slices.Contains(flags, name) {
			return true
		}
	}
	return false
}

// entrypointFlags tell an args-only container's runtime: only flags no
// other of these runtimes takes (--bind, --workers and the like would
// claim one runtime's container for another).
var entrypointFlags = map[string][]string{
	"gunicorn": {"--keep-alive", "-k", "--worker-class", "--worker-connections", "--max-requests"},
	"uvicorn":  {"--timeout-keep-alive", "--proxy-headers", "--forwarded-allow-ips", "--lifespan"},
	"puma":     {"-C", "--control-url", "--preload", "--fork-worker"},
}
