package guard

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/racelab/racelab/probe"
)

// Exit codes of Command: the racelab CLI's own (0 success, 1 a failed
// check or run, 2 a usage or configuration error).
const (
	ExitPass     = 0
	ExitFail     = 1
	ExitUnusable = 2
)

// Option configures Command and Run.
type Option func(*command)

type command struct {
	verifier    Verifier
	proxyProber ProxyProber
	stdin       io.Reader
	log         *slog.Logger
}

// WithVerifier sets the lab runner behind --verify.
func WithVerifier(v Verifier) Option { return func(c *command) { c.verifier = v } }

// WithStdin sets what a source path "-" reads (default os.Stdin).
func WithStdin(r io.Reader) Option { return func(c *command) { c.stdin = r } }

// WithLogger sets a logger for debug messages (default: none).
func WithLogger(l *slog.Logger) Option { return func(c *command) { c.log = l } }

// Synopsis, About and Examples are the help of `racelab guard`, around
// the flags Flags registers.
const (
	Synopsis = "guard [flags]"
	About    = `Asserts the keep-alive parity rule for an HTTP/1.1 proxy and its backend:

    backend_keepalive >= proxy_idle + margin

so that the backend never closes an idle connection the proxy may still
reuse (the cause of 502s with no backend error). Each side is an explicit
value or is read from a real source. Every comparison prints in
milliseconds. Exit status: 0 pass, 1 fail (or the lab contradicts the
verdict, or cannot run), 2 unusable input or usage.

Durations need a unit (ms, s, m, h): a bare "60" is rejected, since 60 s
and 60 ms are both plausible. Sources read units the way their software
does: nginx and Apache bare numbers are seconds, HAProxy's are
milliseconds, Tomcat's and Node.js's are milliseconds, gunicorn's, uvicorn's
and Puma's are whole seconds, Envoy's need an "s", an ALB's are seconds by
the attribute's name, an env variable needs a unit or a name ending in _MS
or _SECONDS.

Node.js is read from JavaScript or TypeScript source (assignments and
createServer options; headersTimeout must exceed keepAliveTimeout) or
JSON. gunicorn, uvicorn and Puma are also read from the command lines of
a compose file, Kubernetes manifests, a Procfile or a shell script. A file
with several servers that disagree is ambiguous: pick one with
--backend-name or KIND:FILE#NAME (a variable, service, container or
process type).

Managed load balancers and meshes have no proxy file: --proxy-preset
NAME takes the provider's documented value (aws-alb 60s, gcp-https-lb
600s fixed, istio 1h, cloudfoundry-gorouter 90s fixed, cloudflare-tunnel
90s), and aws-alb:FILE and istio:FILE read the setting from an attributes
JSON, CloudFormation or Terraform file, or DestinationRule YAML.

probe: sources measure what is running instead of reading files:
probe:URL times a live backend's idle close (loopback URLs only), and
--proxy-from probe:KIND[:PATH] times a proxy's upstream idle lifetime with
racelab's backend behind it. Each value says it was measured.`
	Examples = `  racelab guard --backend-keepalive 65s --proxy-idle 60s --margin 2s
  racelab guard --backend-from gunicorn:gunicorn.conf.py --proxy-from nginx:/etc/nginx/nginx.conf
  racelab guard --backend-from tomcat:conf/server.xml --proxy-from envoy:envoy.yaml --cluster app
  aws elbv2 describe-load-balancer-attributes --load-balancer-arn "$ARN" |
    racelab guard --proxy-from alb-json:- --backend-from env:app.env#KEEP_ALIVE_TIMEOUT_MS --json
  racelab guard --backend-from node:src/server.ts --proxy-idle 60s
  racelab guard --backend-from gunicorn:gunicorn.conf.py --proxy-preset gcp-https-lb
  racelab guard --backend-from node:server.js --proxy-preset istio:k8s/destinationrule.yaml --upstream reviews
  racelab guard --backend-from uvicorn:Procfile --proxy-preset aws-alb:infra/alb.tf
  racelab guard --backend-from node:server.js --proxy-from caddy:/etc/caddy/Caddyfile
  racelab guard --backend-from gunicorn:gunicorn.conf.py --proxy-from apache:/etc/apache2/apache2.conf --upstream "ProxyPass /api"
  racelab guard --backend-from gunicorn:docker-compose.yml#web --proxy-from nginx:nginx.conf
  racelab guard --backend-from uvicorn:k8s/deploy.yaml --backend-name api/app --proxy-idle 60s
  racelab guard --backend-from probe:http://127.0.0.1:3000/ --proxy-idle 10s
  racelab guard --backend-from probe:http://127.0.0.1:8000/ --proxy-from probe:nginx:/etc/nginx/nginx.conf
`
)

// Flags are the flags of `racelab guard`. Register them on a flag set,
// parse, then Check the result before Run.
type Flags struct {
	backendKeepAlive, backendFrom, proxyIdle, proxyFrom string
	proxyPreset                                         string
	margin, upstream, cluster, backendName              string
	proxyVersion, backendVersion, root                  string
	probeMaxWait                                        string
	probeSamples                                        int
	json, verify, requireExplicit                       bool
}

// Register defines the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.backendKeepAlive, "backend-keepalive", "", "backend keep-alive idle timeout, a `duration`: 65s, 65000ms, off, unbounded")
	fs.StringVar(&f.backendFrom, "backend-from", "", "read it from a source: node, gunicorn, uvicorn, puma, tomcat, apache, nginx, env (env:FILE#VARIABLE); PATH - is standard input; or measure a live server: probe:URL (loopback) (`KIND:PATH`)")
	fs.StringVar(&f.proxyIdle, "proxy-idle", "", "proxy's upstream idle timeout, a `duration`: 60s, 60000ms, off, unbounded")
	fs.StringVar(&f.proxyFrom, "proxy-from", "", "read it from a source: nginx, haproxy, envoy, alb-json, caddy (Caddyfile or JSON), apache (ProxyPass ttl=), varnish (a varnishd command line: systemd unit, compose, Kubernetes, shell; or VCL), squid (squid.conf); or measure the proxy with racelab's backend behind it: probe:KIND (its default) or probe:KIND:PATH (your file, upstreams rewritten to loopback) (`KIND:PATH`)")
	fs.StringVar(&f.proxyPreset, "proxy-preset", "", "a managed load balancer or mesh: "+strings.Join(PresetNames(), ", ")+"; NAME:FILE reads the setting (aws-alb: attributes JSON, CloudFormation or Terraform; istio: DestinationRule YAML) (`NAME[:FILE]`)")
	fs.StringVar(&f.margin, "margin", DefaultMargin.String(), "required headroom, a `duration`")
	fs.StringVar(&f.upstream, "upstream", "", "nginx upstream, HAProxy backend, Envoy cluster, Caddy site or upstream, Apache ProxyPass path to check (default: every one)")
	fs.StringVar(&f.cluster, "cluster", "", "the same as --upstream, for Envoy")
	fs.StringVar(&f.backendName, "backend-name", "", "Tomcat connector port, nginx server, Apache ServerName, Node.js server variable, compose service, Kubernetes workload/container, Procfile process")
	fs.StringVar(&f.proxyVersion, "proxy-version", "", "`version` of the proxy, for defaults (nginx 1.29.7 pools by default)")
	fs.StringVar(&f.backendVersion, "backend-version", "", "`version` of the backend runtime (Puma 7.0 defaults to 65s)")
	fs.StringVar(&f.root, "root", "", "resolve absolute include paths under `DIR`")
	fs.IntVar(&f.probeSamples, "probe-samples", 3, "with a probe: source, idle closes to measure")
	fs.StringVar(&f.probeMaxWait, "probe-max-wait", "10m", "with a probe: source, the longest wait for an idle close, a `duration` (a backend probe waits no longer than the proxy's idle timeout plus the margin needs)")
	fs.BoolVar(&f.json, "json", false, "print the verdict as JSON")
	fs.BoolVar(&f.verify, "verify", false, "run the lab on each pair and check it agrees with the verdict")
	fs.BoolVar(&f.requireExplicit, "require-explicit", false, "treat a setting left to its default as unusable input: do not trust defaults on either side")
}

// Check checks the parsed flags together; args are the positional
// arguments left after parsing (guard takes none).
func (f *Flags) Check(args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	switch {
	case (f.backendKeepAlive == "") == (f.backendFrom == ""):
		return errors.New("give exactly one of --backend-keepalive and --backend-from")
	case countSet(f.proxyIdle, f.proxyFrom, f.proxyPreset) != 1:
		return errors.New("give exactly one of --proxy-idle, --proxy-from and --proxy-preset")
	case f.upstream != "" && f.cluster != "":
		return errors.New("give at most one of --upstream and --cluster")
	case isStdin(f.backendFrom) && (isStdin(f.proxyFrom) || isStdin(f.proxyPreset)):
		return errors.New("only one source can read standard input")
	case f.upstream != "" && f.proxyFrom == "" && !strings.HasPrefix(f.proxyPreset, "istio:"):
		return errors.New("--upstream applies to --proxy-from and to --proxy-preset istio:FILE")
	case (f.cluster != "" || f.proxyVersion != "") && f.proxyFrom == "":
		return errors.New("--cluster and --proxy-version apply to --proxy-from")
	case (f.backendName != "" || f.backendVersion != "") && f.backendFrom == "":
		return errors.New("--backend-name and --backend-version apply to --backend-from")
	case (f.backendName != "" || f.backendVersion != "") && IsProbe(f.backendFrom):
		return errors.New("--backend-name and --backend-version apply to files: a probe measures the server at the URL")
	case f.proxyVersion != "" && IsProbe(f.proxyFrom):
		return errors.New("--proxy-version applies to files: a probe measures the proxy installed here")
	case f.cluster != "" && IsProbe(f.proxyFrom):
		return errors.New("--cluster applies to files: with a probe, give --upstream")
	case f.probeSamples < 1 || f.probeSamples > probe.MaxSamples:
		return fmt.Errorf("--probe-samples %d: want 1 to %d", f.probeSamples, probe.MaxSamples)
	}
	if _, err := f.probeWait(); err != nil {
		return err
	}
	if f.proxyPreset != "" {
		name, _, _ := strings.Cut(f.proxyPreset, ":")
		if _, ok := LookupPreset(name); !ok {
			return fmt.Errorf("--proxy-preset %q: unknown preset; want one of %s", name, strings.Join(PresetNames(), ", "))
		}
	}
	return nil
}

// probeWait is --probe-max-wait.
func (f *Flags) probeWait() (time.Duration, error) {
	d, err := time.ParseDuration(f.probeMaxWait)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--probe-max-wait %q: want a positive duration with a unit, like 10m", f.probeMaxWait)
	}
	return d, nil
}

// LabError is a failure of the lab behind --verify (it could not run),
// not of the input: exit 1, where unusable input exits 2.
type LabError struct{ Err error }

func (e *LabError) Error() string { return e.Err.Error() }
func (e *LabError) Unwrap() error { return e.Err }

// Run checks the pairs the flags describe and prints the verdict on
// stdout (as JSON with --json, an error included). pass is the verdict
// (false also when the lab contradicts it); err is unusable input, or a
// *LabError when --verify could not run the lab.
func Run(ctx context.Context, f *Flags, stdout io.Writer, opts ...Option) (pass bool, err error) {
	c := &command{stdin: os.Stdin}
	for _, o := range opts {
		o(c)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	out, err := c.run(ctx, f)
	if err != nil {
		if f.json {
			writeJSON(stdout, jsonReport{Verdict: "error", Error: err.Error()})
		}
		return false, err
	}
	if f.json {
		writeJSON(stdout, out.json())
	} else {
		out.text(stdout)
	}
	return out.exit() == ExitPass, nil
}

// ExitCode maps Run's result to an exit code.
func ExitCode(pass bool, err error) int {
	var le *LabError
	switch {
	case errors.As(err, &le):
		return ExitFail
	case err != nil:
		return ExitUnusable
	case !pass:
		return ExitFail
	}
	return ExitPass
}

// Command runs `racelab guard ARGS...` and returns the exit code: 0 pass,
// 1 fail (the lab contradicts the verdict, or cannot run, under --verify),
// 2 unusable input and usage errors; -h prints usage on stdout and
// returns 0. It is what the racelab CLI runs, for programs that embed it.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer, opts ...Option) int {
	var f Flags
	fs := flag.NewFlagSet("guard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	f.Register(fs)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(stdout, fs)
		return ExitPass
	}
	if err == nil {
		err = f.Check(fs.Args())
		if err != nil {
			fmt.Fprintf(stderr, "racelab guard: %v\n", err)
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "run 'racelab guard -h' for usage")
		return ExitUnusable
	}
	pass, err := Run(ctx, &f, stdout, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "racelab guard: %v\n", err)
	}
	return ExitCode(pass, err)
}

// printUsage prints the help in the racelab CLI's shape.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: racelab %s\n\n%s\n\nFlags:\n", Synopsis, About)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nExamples:\n%s", Examples)
}

// countSet counts the non-empty values.
func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

func isStdin(spec string) bool {
	_, path, _ := strings.Cut(spec, ":")
	path, _, _ = strings.Cut(path, "#")
	return path == "-"
}

// outcome is a finished run.
type outcome struct {
	report  Report
	margin  string
	verify  []Verification
	skipped []string
}

func (c *command) run(ctx context.Context, f *Flags) (*outcome, error) {
	margin, err := ParseDuration(f.margin)
	if err != nil {
		return nil, fmt.Errorf("--margin %w", err)
	}
	wait, err := f.probeWait()
	if err != nil {
		return nil, err
	}
	ps := probeSettings{samples: f.probeSamples, maxWait: wait}
	var proxies []Value
	switch {
	case f.proxyPreset != "":
		c.log.Debug("read preset", "spec", f.proxyPreset)
		proxies, err = ReadPreset(f.proxyPreset, WithName(f.upstream), WithInput(c.stdin))
	case IsProbe(f.proxyFrom):
		proxies, err = c.probeProxy(ctx, f.proxyFrom, f.root, f.upstream, ps)
	default:
		proxies, err = c.side(f.proxyIdle, "--proxy-idle", f.proxyFrom, ReadProxy,
			WithName(f.upstream+f.cluster), WithVersion(f.proxyVersion), WithRoot(f.root))
	}
	if err != nil {
		return nil, err
	}
	var backends []Value
	if IsProbe(f.backendFrom) {
		// A backend still open once the rule is met needs no longer wait.
		capped := false
		if need, ok := longestFinite(proxies); ok && need+margin+time.Second < ps.maxWait {
			ps.maxWait, capped = need+margin+time.Second, true
		}
		backends, err = c.probeBackend(ctx, f.backendFrom, ps, capped)
	} else {
		backends, err = c.side(f.backendKeepAlive, "--backend-keepalive", f.backendFrom, ReadBackend,
			WithName(f.backendName), WithVersion(f.backendVersion), WithRoot(f.root))
	}
	if err != nil {
		return nil, err
	}
	if f.requireExplicit {
		if err := RequireExplicit(append(append([]Value{}, backends...), proxies...)); err != nil {
			return nil, err
		}
	}
	out := &outcome{report: CheckAll(backends, proxies, margin), margin: FormatMS(margin)}
	for _, r := range out.report.Results {
		if r.Err != nil {
			return nil, r.Err
		}
	}
	if !f.verify {
		return out, nil
	}
	if c.verifier == nil {
		return nil, errors.New("--verify: no lab is configured in this build to run the scenarios")
	}
	proxyKind, proxyPath, _ := strings.Cut(strings.TrimPrefix(f.proxyFrom, ProbePrefix), ":")
	backendKind, _, _ := strings.Cut(f.backendFrom, ":")
	var config *ConfigRef
	switch proxyKind {
	case "nginx", "haproxy", "envoy", "caddy", "apache", "varnish", "squid":
		if !isStdin(f.proxyFrom) && proxyPath != "" {
			path, _, _ := strings.Cut(proxyPath, "#")
			config = &ConfigRef{Kind: proxyKind, Path: path, Root: f.root, Upstream: f.upstream}
		}
	}
	for i, r := range out.report.Results {
		if r.Backend.State != StateFinite || r.Proxy.State != StateFinite {
			out.skipped = append(out.skipped, fmt.Sprintf("pair %d: not verified: backend %s, proxy %s (the lab runs finite timeouts)", i+1, r.Backend.Show(), r.Proxy.Show()))
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, &LabError{fmt.Errorf("verify: %w", err)}
		}
		c.log.Debug("verify pair", "pair", i+1, "backend", r.Backend.Show(), "proxy", r.Proxy.Show())
		v, err := verifyPair(ctx, c.verifier, i+1, r, proxyKind, backendKind, config)
		if err != nil {
			return nil, &LabError{err}
		}
		out.verify = append(out.verify, v)
	}
	if len(out.verify) == 0 {
		return nil, errors.New("--verify: no pair has finite timeouts on both sides to run in the lab")
	}
	return out, nil
}

// longestFinite is the longest of vals when every one is finite.
func longestFinite(vals []Value) (time.Duration, bool) {
	var d time.Duration
	for _, v := range vals {
		if v.State != StateFinite {
			return 0, false
		}
		d = max(d, v.Duration)
	}
	return d, len(vals) > 0
}

// side reads one side: an explicit value or a source.
func (c *command) side(explicit, flagName, spec string,
	read func(string, ...ReadOption) ([]Value, error), opts ...ReadOption) ([]Value, error) {
	if explicit != "" {
		v, err := ParseValue(explicit, flagName)
		if err != nil {
			return nil, fmt.Errorf("%s %w", flagName, err)
		}
		return []Value{v}, nil
	}
	c.log.Debug("read source", "spec", spec)
	return read(spec, append(opts, WithInput(c.stdin))...)
}

func (o *outcome) contradicted() bool {
	for _, v := range o.verify {
		if !v.Agrees {
			return true
		}
	}
	return false
}

func (o *outcome) exit() int {
	if o.report.Pass && !o.contradicted() {
		return ExitPass
	}
	return ExitFail
}

const caveat = "parity rules out idle-timeout closes only: max requests per connection, connection lifetimes, worker recycling and deploys still close connections; retry connection failures for idempotent requests only"

func (o *outcome) text(w io.Writer) {
	for i, r := range o.report.Results {
		if i > 0 {
			fmt.Fprintln(w)
		}
		verdict := "FAIL"
		if r.Pass {
			verdict = "PASS"
		}
		fmt.Fprintf(w, "%s %s\n", verdict, r.Inequality())
		fmt.Fprintf(w, "  backend  %s\n", r.Backend)
		fmt.Fprintf(w, "  proxy    %s\n", r.Proxy)
		fmt.Fprintf(w, "  why      %s\n", r.Reason)
		if r.Fix != "" {
			fmt.Fprintf(w, "  fix      %s\n", r.Fix)
		}
		for _, n := range append(append([]string{}, r.Backend.Notes...), r.Proxy.Notes...) {
			fmt.Fprintf(w, "  note     %s\n", n)
		}
		for _, v := range o.verify {
			if v.Pair == i+1 {
				fmt.Fprintf(w, "  lab      deterministic: %s\n", scenarioLine(v.Result.Deterministic))
				fmt.Fprintf(w, "  lab      timing: %s\n", scenarioLine(v.Result.Timing))
				fmt.Fprintf(w, "  lab      %s\n", v.Message)
			}
		}
	}
	for _, s := range o.skipped {
		fmt.Fprintf(w, "verify: %s\n", s)
	}
	n, failed := len(o.report.Results), o.report.Failed()
	switch {
	case o.contradicted():
		fmt.Fprintf(w, "guard: FAIL: the lab contradicts the guard's verdict (margin %s)\n", o.margin)
	case o.report.Pass:
		fmt.Fprintf(w, "guard: PASS: %d of %d pairs pass (margin %s)\nnote: %s\n", n, n, o.margin, caveat)
	default:
		fmt.Fprintf(w, "guard: FAIL: %d of %d pairs fail (margin %s)\n", failed, n, o.margin)
	}
}

func scenarioLine(s ScenarioResult) string {
	word := "not reproduced"
	if s.Reproduced {
		word = "reproduced"
	}
	return fmt.Sprintf("%s, %d of %d trials failed: %s", word, s.Failures, s.Trials, s.Summary)
}

type jsonReport struct {
	Verdict  string         `json:"verdict"`
	Pass     bool           `json:"pass"`
	MarginMS *float64       `json:"margin_ms,omitempty"`
	Results  []Result       `json:"results,omitempty"`
	Verify   []Verification `json:"verify,omitempty"`
	Lab      string         `json:"lab,omitempty"`
	Skipped  []string       `json:"verify_skipped,omitempty"`
	Caveat   string         `json:"caveat,omitempty"`
	Error    string         `json:"error,omitempty"`
}

func (o *outcome) json() jsonReport {
	out := jsonReport{Verdict: "fail", Results: o.report.Results, Verify: o.verify, Skipped: o.skipped, Caveat: caveat}
	if o.report.Pass {
		out.Verdict, out.Pass = "pass", true
	}
	if len(o.report.Results) > 0 {
		m := ms(o.report.Results[0].Margin)
		out.MarginMS = &m
	}
	if len(o.verify) > 0 {
		out.Lab = "agrees"
		if o.contradicted() {
			out.Lab, out.Pass = "contradicts", false
		}
	}
	return out
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
