package guard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Backend runtimes' keep-alive defaults, used when a source does not set
// the value.
const (
	nodeIdleDefault     = 5 * time.Second
	gunicornIdleDefault = 2 * time.Second
	uvicornIdleDefault  = 5 * time.Second
	pumaIdleDefault     = 20 * time.Second // before Puma 7.0
	puma7IdleDefault    = 65 * time.Second // Puma 7.0 and later
	tomcatIdleDefault   = 60 * time.Second // connectionTimeout's default
)

// Effective closes: how much later than its setting a runtime closes an
// idle connection, where racelab measured a systematic difference
// (racelab behaviour --runtimes, docs/runtimes.md). The guard checks the
// close that happens, and says why it differs from the setting.
const (
	// nodeCloseBuffer: Node.js 20 arms the idle socket's timeout 1 s
	// after keepAliveTimeout (measured on 20.20: 1000 ms gives 2.0 s,
	// 3000 ms 4.0 s, the 5000 ms default 6.0 s).
	nodeCloseBuffer = time.Second
	nodeCloseWhy    = "Node.js 20 closes an idle connection 1s after keepAliveTimeout (measured with racelab probe on Node.js 20.20, docs/runtimes.md), so the guard checks %s, the close that happens; a Node.js without that buffer closes at the setting: measure yours with racelab probe"
)

// nodeEffective moves a finite Node.js keepAliveTimeout to the close
// Node.js applies, and says why.
func nodeEffective(v *Value) {
	if v.State != StateFinite {
		return
	}
	v.Duration += nodeCloseBuffer
	v.Explanation += fmt.Sprintf("; effective idle close %s", FormatMS(v.Duration))
	v.Notes = append(v.Notes, fmt.Sprintf(nodeCloseWhy, FormatMS(v.Duration)))
}

// ReadNode reads Node.js's server.keepAliveTimeout from a JSON file:
// every "keepAliveTimeout" key at any depth, a number of milliseconds
// (Node's unit; a string is an error). 0 turns the idle timer off. Without
// the key the default applies: 5 s, as in Node.js 20 and the releases
// around it.
func ReadNode(path string, opts ...ReadOption) ([]Value, error) {
	return withData(newReadConfig(opts), path, func(name string, d []byte) ([]Value, error) { return parseNode(name, d) })
}

func parseNode(path string, data []byte) ([]Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("read node: %s: want JSON with keepAliveTimeout in milliseconds: %w", path, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("read node: %s: more than one JSON value", path)
	}
	if _, ok := doc.(map[string]any); !ok {
		return nil, fmt.Errorf("read node: %s: want a JSON object", path)
	}
	var vals []Value
	var walkErr error
	var walk func(x any, at string)
	walk = func(x any, at string) {
		switch t := x.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				if k == "keepAliveTimeout" && walkErr == nil {
					v, err := nodeValue(path, at+k, t[k])
					if err != nil {
						walkErr = err
					}
					vals = append(vals, v)
				}
				walk(t[k], at+k+".")
			}
		case []any:
			for i, e := range t {
				walk(e, fmt.Sprintf("%s%d.", at, i))
			}
		}
	}
	walk(doc, "")
	if walkErr != nil {
		return nil, fmt.Errorf("read node: %w", walkErr)
	}
	if len(vals) == 0 {
		vals = []Value{{State: StateFinite, Duration: nodeIdleDefault, Default: true, Source: path,
			Explanation: "keepAliveTimeout not set: Node.js's default 5000ms",
			Notes:       []string{"a later Node.js major raises the default; the guard keeps the lower one"}}}
	}
	for i := range vals {
		nodeEffective(&vals[i])
	}
	return vals, nil
}

func nodeValue(path, key string, x any) (Value, error) {
	n, ok := x.(json.Number)
	if !ok {
		return Value{}, fmt.Errorf("%s: %s is %s, want a number of milliseconds", path, key, describe(x))
	}
	f, err := n.Float64()
	if err != nil {
		return Value{}, fmt.Errorf("%s: %s %s: %w", path, key, n, err)
	}
	d, err := millisFloat(f)
	if err != nil {
		return Value{}, fmt.Errorf("%s: %s %w", path, key, err)
	}
	v := Value{Source: path, Name: key}
	if d == 0 {
		v.State, v.Explanation = StateUnbounded, key+" 0: Node.js turns the keep-alive timer off"
		return v, nil
	}
	v.State, v.Duration = StateFinite, d
	v.Explanation = fmt.Sprintf("%s (milliseconds, Node.js's unit)", n)
	return v, nil
}

// lineMatch is one regexp hit with its line number.
type lineMatch struct {
	val  string
	line int
}

// findAll returns the first group of every match of re, line by line.
func findAll(data []byte, re *regexp.Regexp) []lineMatch {
	var out []lineMatch
	for i, line := range strings.Split(string(data), "\n") {
		for _, m := range re.FindAllStringSubmatch(line, -1) {
			out = append(out, lineMatch{val: strings.Trim(m[1], `"'`), line: i + 1})
		}
	}
	return out
}

// wholeSeconds turns matches into Values of whole seconds.
func wholeSeconds(path, setting string, ms []lineMatch) ([]Value, error) {
	var vals []Value
	for _, m := range ms {
		src := fmt.Sprintf("%s:%d", path, m.line)
		d, err := parseWholeUnits(m.val, time.Second, "seconds")
		if err != nil {
			return nil, fmt.Errorf("%s: %s %w", src, setting, err)
		}
		v := Value{Source: src, Explanation: setting + " " + m.val + " (whole seconds)"}
		if d == 0 {
			v.State, v.Explanation = StateOff, setting+" 0: keep-alive off"
		} else {
			v.State, v.Duration = StateFinite, d
		}
		vals = append(vals, v)
	}
	return vals, nil
}

// cliFlag matches a command-line flag and its value, in a shell line
// (--flag 5, --flag=5) or an exec-form JSON array ("--flag", "5").
func cliFlag(names string) *regexp.Regexp {
	return regexp.MustCompile(`(?:^|[\s"'\[,])(?:` + names + `)(?:=|["']?\s*,\s*["']|\s+["']?)([^\s"',\]]+)`)
}

var (
	gunicornConfKeepalive = regexp.MustCompile(`^\s*keepalive\s*=\s*([^#\s]+)`)
	gunicornCLIKeepalive  = cliFlag(`--keep-alive`)
	gunicornConfWorker    = regexp.MustCompile(`^\s*worker_class\s*=\s*["']?([\w.:]+)`)
	gunicornCLIWorker     = cliFlag(`-k|--worker-class`)
	gunicornConfThreads   = regexp.MustCompile(`^\s*threads\s*=\s*(\d+)`)
	gunicornCLIThreads    = cliFlag(`--threads`)
	gunicornMarker        = regexp.MustCompile(`(?m)\bgunicorn\b|^\s*(bind|workers|worker_class|threads|timeout|graceful_timeout|keepalive|max_requests|accesslog|errorlog|loglevel|preload_app|wsgi_app)\s*=`)
)

// ReadGunicorn reads gunicorn's keep-alive, in whole seconds, from a
// gunicorn.conf.py (`keepalive = 75`), or from any text holding its
// command line (`--keep-alive 75`: a Dockerfile, a Procfile, a
// GUNICORN_CMD_ARGS line of `env` output). Every setting found is checked;
// without one the default of 2 s applies. gunicorn's sync worker closes
// every connection after its response, so with it (and one thread) the
// value reads as off; it is the default worker, but a worker class set
// elsewhere cannot be seen, so only an explicit sync counts.
func ReadGunicorn(path string, opts ...ReadOption) ([]Value, error) {
	return withData(newReadConfig(opts), path, func(name string, d []byte) ([]Value, error) { return parseGunicorn(name, d) })
}

func parseGunicorn(path string, data []byte) ([]Value, error) {
	if !gunicornMarker.Match(data) {
		return nil, fmt.Errorf("read gunicorn: %s: no gunicorn setting or command line found", path)
	}
	found := append(findAll(data, gunicornConfKeepalive), findAll(data, gunicornCLIKeepalive)...)
	vals, err := wholeSeconds(path, "keepalive", found)
	if err != nil {
		return nil, fmt.Errorf("read gunicorn: %w", err)
	}
	if len(vals) == 0 {
		vals = []Value{{State: StateFinite, Duration: gunicornIdleDefault, Default: true, Source: path,
			Explanation: "keepalive not set: gunicorn's default 2s"}}
	}
	workers := append(findAll(data, gunicornConfWorker), findAll(data, gunicornCLIWorker)...)
	threads := append(findAll(data, gunicornConfThreads), findAll(data, gunicornCLIThreads)...)
	multi := slices.ContainsFunc(threads, func(m lineMatch) bool { n, err := parseUint(m.val); return err == nil && n > 1 })
	sync := len(workers) > 0 && !multi && !slices.ContainsFunc(workers, func(m lineMatch) bool {
		return m.val != "sync" && !strings.HasSuffix(m.val, "SyncWorker")
	})
	for i := range vals {
		switch {
		case sync:
			vals[i].State, vals[i].Duration = StateOff, 0
			vals[i].Explanation = fmt.Sprintf("worker class sync (line %d): gunicorn's sync worker closes every connection after its response, so %s is unused", workers[0].line, vals[i].Explanation)
		case len(workers) == 0 && !multi:
			vals[i].Notes = append(vals[i].Notes, "no worker class found: the default sync worker closes every connection (no race); checked as a keep-alive worker (gthread, gevent, eventlet, Uvicorn), where keepalive applies")
		}
	}
	return vals, nil
}

var (
	uvicornCLIKeepalive = cliFlag(`--timeout-keep-alive`)
	uvicornKeepalive    = regexp.MustCompile(`(?:UVICORN_TIMEOUT_KEEP_ALIVE\s*=\s*|\btimeout_keep_alive\s*=\s*)([^\s,)#"']+|"[^"]*"|'[^']*')`)
	uvicornMarker       = regexp.MustCompile(`(?i)uvicorn|timeout_keep_alive`)
)

// ReadUvicorn reads uvicorn's keep-alive, in whole seconds, from text
// holding its command line (`--timeout-keep-alive 75`), its environment
// (`UVICORN_TIMEOUT_KEEP_ALIVE=75`) or a Python call
// (`uvicorn.run(app, timeout_keep_alive=75)`). Without one the default of
// 5 s applies. Under gunicorn's Uvicorn worker, gunicorn's keepalive
// applies instead: read it with ReadGunicorn.
func ReadUvicorn(path string, opts ...ReadOption) ([]Value, error) {
	return withData(newReadConfig(opts), path, func(name string, d []byte) ([]Value, error) { return parseUvicorn(name, d) })
}

func parseUvicorn(path string, data []byte) ([]Value, error) {
	if !uvicornMarker.Match(data) {
		return nil, fmt.Errorf("read uvicorn: %s: no uvicorn command line, environment or call found", path)
	}
	found := append(findAll(data, uvicornCLIKeepalive), findAll(data, uvicornKeepalive)...)
	vals, err := wholeSeconds(path, "timeout_keep_alive", found)
	if err != nil {
		return nil, fmt.Errorf("read uvicorn: %w", err)
	}
	if len(vals) == 0 {
		vals = []Value{{State: StateFinite, Duration: uvicornIdleDefault, Default: true, Source: path,
			Explanation: "timeout_keep_alive not set: uvicorn's default 5s"}}
	}
	return vals, nil
}

var (
	pumaKeepalive = regexp.MustCompile(`^\s*persistent_timeout[\s(]+([^\s)#]+)`)
	pumaMarker    = regexp.MustCompile(`(?m)^\s*(threads|workers|port|bind|environment|preload_app!|worker_timeout|plugin|pidfile|persistent_timeout|first_data_timeout|rackup|state_path|on_worker_boot|before_fork|stdout_redirect)\b`)
)

// ReadPuma reads Puma's persistent_timeout, in whole seconds, from a
// config/puma.rb. Without it the default applies: 20 s before Puma 7.0,
// 65 s from 7.0 (WithVersion); the lower one when the version is unknown.
func ReadPuma(path string, opts ...ReadOption) ([]Value, error) {
	c := newReadConfig(opts)
	return withData(c, path, func(name string, d []byte) ([]Value, error) { return parsePuma(c, name, d) })
}

func parsePuma(c *readConfig, path string, data []byte) ([]Value, error) {
	if !pumaMarker.Match(data) {
		return nil, fmt.Errorf("read puma: %s: no Puma configuration found", path)
	}
	vals, err := wholeSeconds(path, "persistent_timeout", findAll(data, pumaKeepalive))
	if err != nil {
		return nil, fmt.Errorf("read puma: %w (a computed value such as ENV.fetch cannot be read: give --backend-keepalive)", err)
	}
	if len(vals) > 0 {
		return vals, nil
	}
	v, err := pumaDefault(c, path, "persistent_timeout not set")
	if err != nil {
		return nil, err
	}
	return []Value{v}, nil
}

// pumaDefault is Puma's persistent_timeout default for the version given
// WithVersion: 20s before 7.0, 65s from 7.0, the lower when unknown.
func pumaDefault(c *readConfig, src, why string) (Value, error) {
	v := Value{State: StateFinite, Duration: pumaIdleDefault, Default: true, Source: src,
		Explanation: why + ": Puma's default 20s before 7.0"}
	if c.version == "" {
		v.Notes = []string{"Puma 7.0 and later default to 65s; give the Puma version to use it"}
	} else if ver, err := parseVersion(c.version); err != nil {
		return Value{}, fmt.Errorf("read puma: %w", err)
	} else if ver.atLeast(version{7}) {
		v.Duration = puma7IdleDefault
		v.Explanation = fmt.Sprintf("%s: Puma %s's default 65s", why, ver)
	}
	return v, nil
}

var envLine = regexp.MustCompile(`^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$`)

// ReadEnv reads one variable from environment lines (NAME=VALUE, as in a
// .env file or the output of `env` or `docker image inspect`). The value
// needs a unit ("65s", "65000ms") unless the name says it: a suffix _MS,
// _MILLIS or _MILLISECONDS means milliseconds, _S, _SEC, _SECS or _SECONDS
// means seconds. A missing variable is an error.
func ReadEnv(path, name string, opts ...ReadOption) ([]Value, error) {
	return withData(newReadConfig(opts), path, func(src string, d []byte) ([]Value, error) { return parseEnv(src, name, d) })
}

func parseEnv(path, name string, data []byte) ([]Value, error) {
	var val string
	line := 0
	for i, l := range strings.Split(string(data), "\n") {
		m := envLine.FindStringSubmatch(l)
		if m == nil || m[1] != name {
			continue
		}
		val, line = m[2], i+1 // the last assignment wins, as in a shell
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
	}
	if line == 0 {
		return nil, fmt.Errorf("read env: %s: %s is not set", path, name)
	}
	src := fmt.Sprintf("%s:%d", path, line)
	var d time.Duration
	var err error
	unit := ""
	if isNumber(val) {
		upper := strings.ToUpper(name)
		switch {
		case hasAnySuffix(upper, "_MS", "_MILLIS", "_MILLISECONDS"):
			unit = "milliseconds"
			d, err = parseWholeUnits(val, time.Millisecond, "milliseconds")
		case hasAnySuffix(upper, "_S", "_SEC", "_SECS", "_SECONDS"):
			unit = "seconds"
			d, err = parseWholeUnits(val, time.Second, "seconds")
		default:
			return nil, fmt.Errorf("read env: %s: %s=%s: %w and the name does not say one; write %ss or %sms, or name it %s_MS or %s_SECONDS", src, name, val, errNoUnit, val, val, name, name)
		}
	} else {
		d, err = ParseDuration(val)
	}
	if err != nil {
		return nil, fmt.Errorf("read env: %s: %s: %w", src, name, err)
	}
	if d == 0 {
		return nil, fmt.Errorf("read env: %s: %s=%s: zero is ambiguous (off or no timer?); give --backend-keepalive off or unbounded", src, name, val)
	}
	expl := name + "=" + val
	if unit != "" {
		expl += " (" + unit + ", by the variable's name)"
	}
	return []Value{{State: StateFinite, Duration: d, Source: src, Explanation: expl}}, nil
}

func hasAnySuffix(s string, suffixes ...string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}
