package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/racelab/racelab/lab"
	"github.com/racelab/racelab/probe"
)

// ExitNoIdleClose is probe's exit code when the server (or proxy) kept
// the idle connection open for the whole --max-wait: a measurement, not
// an error, told apart from an idle close found (0).
const ExitNoIdleClose = 3

const probeAbout = `Measures an effective keep-alive idle timeout from outside: what the
server or proxy does, not what its configuration says.

With a URL: each sample opens a fresh connection, sends one GET, reads the
whole response and waits on the idle connection for the server to close
it (FIN: end of stream; RST: connection reset). A sample is the time from
the last byte of the response to that close. The samples run at once,
each on its own connection and started 50ms apart (a stall of the
machine then moves one sample, not the median), so a measurement takes
about one idle timeout. Another connection sends up to --max-requests requests back to
back to find the server's maximum requests per connection ("≥100" when it
never closed it). The URL must be loopback: 127.0.0.0/8, [::1] or
localhost (never resolved) — racelab contacts nothing else; to probe a
remote server, run racelab beside it or forward a local port.

With --proxy or --proxy-from: racelab's backend (no idle timeout, no
request limit) runs behind the proxy — racelab's configuration, or your
file with every upstream rewritten to loopback as for 'run --proxy-from'
(nothing the file names is contacted) — and each sample times, from the
backend's side, how long the proxy keeps the idle upstream connection
after a request. One upstream connection is pooled, so samples run one
after another: nginx's default 60s takes a minute per sample. Progress
goes to stderr every 5s.

Exit status: 0 an idle close was measured (or the server keeps no
connection alive), 3 no idle close within --max-wait, 2 usage error, a
host that is not loopback, or a target that refuses the connection or
does not answer HTTP/1.1, 1 the proxy could not run.`

const probeExamples = `  racelab probe http://127.0.0.1:3000/                 # a Node.js app: median of 3 idle closes
  racelab probe --json --samples 5 localhost:8000/health
  racelab probe --max-wait 2m http://127.0.0.1:8080/    # give up after 2 minutes
  racelab probe --proxy nginx                            # nginx's default upstream idle timeout (60s)
  racelab probe --proxy haproxy --proxy-idle 1s          # what pool-purge-delay 1s becomes
  racelab probe --proxy-from nginx:/etc/nginx/nginx.conf --upstream app --samples 1
`

type probeFlags struct {
	samples, maxRequests int
	maxWait, proxyIdle   string
	json, quiet          bool
	proxy, proxyFrom     string
	upstream, root       string
	version, runtime     string
}

func runProbe(ctx context.Context, e *env, args []string) int {
	fs := newFlagsAbout(e, "probe", "probe [flags] URL | probe --proxy KIND | --proxy-from KIND:PATH [flags]", probeAbout, probeExamples)
	var f probeFlags
	fs.IntVar(&f.samples, "samples", probe.DefaultSamples, "idle closes to measure (for a URL they run at once, 50ms apart, each on its own connection)")
	fs.StringVar(&f.maxWait, "max-wait", "10m", "longest wait for each idle close, a `duration`")
	fs.IntVar(&f.maxRequests, "max-requests", probe.DefaultMaxRequests, "requests to send back to back on one connection to find the maximum per connection (0: skip)")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress lines on stderr")
	fs.StringVar(&f.proxy, "proxy", "", "measure this proxy's upstream idle lifetime instead: go, nginx, haproxy, envoy, caddy, apache, varnish, squid (apache times no ttl=: it drops an expired connection only when it next needs one)")
	fs.StringVar(&f.proxyFrom, "proxy-from", "", "measure your own proxy configuration, `KIND:PATH` (nginx, haproxy, envoy, caddy, apache, varnish, squid)")
	fs.StringVar(&f.proxyIdle, "proxy-idle", "", "with --proxy: the upstream idle setting to run, a `duration` (default: the proxy's own default)")
	fs.StringVar(&f.upstream, "upstream", "", "with --proxy-from: the nginx upstream, HAProxy backend, Envoy cluster, Caddy reverse_proxy, Apache ProxyPass, Varnish backend or director, or Squid cache_peer (default: the only one)")
	fs.StringVar(&f.root, "root", "", "with --proxy-from: resolve absolute include paths under `DIR`")
	fs.StringVar(&f.version, "proxy-version", "", "with --proxy: proxy version (container images)")
	fs.StringVar(&f.runtime, "runtime", "", "with --proxy or --proxy-from: process or container")
	pos, code, ok := parseInterleaved(e, fs, args)
	if !ok {
		return code
	}
	maxWait, err := f.check(pos)
	if err != nil {
		e.errorf("probe: %v", err)
		fmt.Fprintln(e.stderr, "run 'racelab probe -h' for usage")
		return ExitUsage
	}
	progress := func(line string) {
		if !f.quiet {
			fmt.Fprintf(e.stderr, "racelab probe: %s\n", line)
		}
	}
	var res *probe.Result
	if len(pos) == 1 {
		res, err = probe.Measure(ctx, pos[0], probe.WithSamples(f.samples), probe.WithMaxWait(maxWait),
			probe.WithMaxRequests(f.maxRequests), probe.WithProgress(progress))
		var u *probe.Unreachable
		if errors.Is(err, probe.ErrNotLoopback) || errors.As(err, &u) {
			e.errorf("%v", err)
			return ExitUsage
		}
	} else {
		pp, perr := f.proxyProbe(maxWait)
		if perr != nil {
			e.errorf("probe: %v", perr)
			return ExitUsage
		}
		if perr := pp.Check(ctx); perr != nil {
			e.errorf("probe: %v", perr)
			return ExitUsage
		}
		pp.Progress = progress
		sweepBeforeRun(ctx, e, false)
		res, err = lab.ProbeProxy(ctx, pp)
	}
	if err != nil {
		e.errorf("%v", err)
		return ExitFail
	}
	if f.json {
		data, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			e.errorf("probe: %v", err)
			return ExitFail
		}
		fmt.Fprintf(e.stdout, "%s\n", data)
	} else {
		res.WriteText(e.stdout)
	}
	if res.NeverClosed {
		return ExitNoIdleClose
	}
	return ExitOK
}

// check checks the flags and arguments together and returns the maximum
// wait.
func (f *probeFlags) check(pos []string) (time.Duration, error) {
	proxied := f.proxy != "" || f.proxyFrom != ""
	switch {
	case len(pos) > 1:
		return 0, fmt.Errorf("one URL at a time, got %d arguments", len(pos))
	case len(pos) == 1 && proxied:
		return 0, errors.New("give a URL or --proxy/--proxy-from, not both")
	case len(pos) == 0 && !proxied:
		return 0, errors.New("give a URL to probe, or --proxy KIND or --proxy-from KIND:PATH")
	case f.proxy != "" && f.proxyFrom != "" && !strings.HasPrefix(f.proxyFrom, f.proxy+":"):
		return 0, fmt.Errorf("--proxy %s and --proxy-from %s name different proxies (--proxy can be left out: the file names its kind)", f.proxy, f.proxyFrom)
	case !proxied && (f.proxyIdle != "" || f.upstream != "" || f.root != "" || f.version != "" || f.runtime != ""):
		return 0, errors.New("--proxy-idle, --upstream, --root, --proxy-version and --runtime go with --proxy or --proxy-from")
	case f.proxyFrom != "" && (f.proxyIdle != "" || f.version != ""):
		return 0, errors.New("--proxy-from runs the file's own settings: drop --proxy-idle and --proxy-version")
	case f.proxyFrom == "" && (f.upstream != "" || f.root != ""):
		return 0, errors.New("--upstream and --root go with --proxy-from")
	case f.samples < 1 || f.samples > probe.MaxSamples:
		return 0, fmt.Errorf("--samples %d: want 1 to %d", f.samples, probe.MaxSamples)
	case f.maxRequests < 0 || f.maxRequests > probe.MaxMaxRequests:
		return 0, fmt.Errorf("--max-requests %d: want 0 to %d", f.maxRequests, probe.MaxMaxRequests)
	case proxied && f.maxRequests != probe.DefaultMaxRequests:
		return 0, errors.New("--max-requests applies to a URL; a proxy probe measures the idle lifetime only")
	}
	d, err := positiveDuration("--max-wait", f.maxWait)
	if err != nil {
		return 0, err
	}
	if f.proxyIdle != "" {
		if _, err := positiveDuration("--proxy-idle", f.proxyIdle); err != nil {
			return 0, err
		}
	}
	return d, nil
}

// proxyProbe is the lab's description of the proxy to measure.
func (f *probeFlags) proxyProbe(maxWait time.Duration) (lab.ProxyProbe, error) {
	pp := lab.ProxyProbe{Kind: f.proxy, Version: f.version, Runtime: f.runtime, Samples: f.samples, MaxWait: maxWait}
	if f.proxyIdle != "" {
		pp.IdleTimeout, _ = time.ParseDuration(f.proxyIdle)
	}
	if f.proxyFrom != "" {
		kind, path, err := splitProxyFrom(f.proxyFrom)
		if err != nil {
			return pp, err
		}
		abs, root, err := lab.ConfigPaths(kind, path, f.root)
		if err != nil {
			return pp, fmt.Errorf("--proxy-from: %w", err)
		}
		pp.Kind, pp.Config, pp.Root, pp.Upstream = kind, abs, root, f.upstream
	}
	return pp, nil
}

// positiveDuration parses a duration with a unit that must be positive.
func positiveDuration(name, s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%s %q: want a duration with a unit, like 90s or 10m", name, s)
	case d <= 0:
		return 0, fmt.Errorf("%s %s: want a positive duration", name, s)
	}
	return d, nil
}
