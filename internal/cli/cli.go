package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/racelab/racelab/lab"
)

// Exit codes.
const (
	ExitOK    = 0 // success, every expectation met
	ExitFail  = 1 // a failed expectation or a run error
	ExitUsage = 2 // usage or configuration error
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) int
}

// env is what a command may touch: injected so tests drive the CLI.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

func (e *env) errorf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "racelab: "+format+"\n", args...)
}

func commands() []command {
	return []command{
		{"demo", "reproduce the keep-alive 502 and its fixes, with a verdict to read aloud", runDemo},
		{"run", "run a scenario file or a built-in scenario", runRun},
		{"validate", "check scenario files and report every problem with file:line:col", runValidate},
		{"scenarios", "list the built-in scenarios, or print one", runScenarios},
		{"report", "re-render a results file (also one cut off mid-run)", runReport},
		{"behaviour", "tabulate what a stale reused connection does on every installed proxy", runBehaviour},
		{"probe", "measure a live server's (or a proxy's) effective keep-alive idle close", runProbe},
		{"guard", "assert backend_keepalive >= proxy_idle + margin from real configs", runGuard},
		{"triage", "classify 5xx in production logs: which are the keep-alive race, and what keep-alive the idle gaps imply", runTriage},
		{"images", "build proxy images with no registry (debootstrap + import)", runImages},
		{"clean", "remove the proxies, temp dirs and containers of racelab runs that were killed", runClean},
		{"version", "print the version", runVersion},
		{"help", "show help for a command", nil},
	}
}

// Main runs racelab with args (without the program name) and returns the
// exit code. SIGINT and SIGTERM cancel the run: every proxy started is
// stopped and results so far stay on disk.
func Main(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return MainContext(ctx, args, getenv, stdout, stderr)
}

// MainContext is Main with a caller-supplied context.
func MainContext(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := &env{getenv: getenv, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(e.stderr)
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		usage(e.stdout)
		return ExitOK
	case "help":
		if len(args) > 1 {
			return dispatch(ctx, e, args[1], []string{"-h"})
		}
		usage(e.stdout)
		return ExitOK
	case "-version", "--version":
		name = "version"
	}
	return dispatch(ctx, e, name, args[1:])
}

func dispatch(ctx context.Context, e *env, name string, args []string) int {
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			return c.run(ctx, e, args)
		}
	}
	e.errorf("unknown command %q", name)
	usage(e.stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `racelab reproduces the HTTP/1.1 upstream keep-alive race and measures it:
a proxy reuses a pooled connection just as the backend's keep-alive closes it,
and users get a 502 (503, or a dropped connection) that no backend log shows.

Usage:
  racelab <command> [flags] [args]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Examples:
  racelab demo                              # the race, the fix, and the retry boundary
  racelab demo --proxy go                   # the same on the embedded Go proxy
  racelab run six-step --proxy nginx        # a built-in scenario on nginx
  racelab run my-scenario.yaml -o out.jsonl # your scenario, results streamed to out.jsonl
  racelab validate my-scenario.yaml
  racelab report out.jsonl --format md
  racelab guard --backend-keepalive 65s --proxy-idle 60s --margin 2s
  racelab probe http://127.0.0.1:3000/      # a live server's effective keep-alive

Exit codes: 0 success, 1 failed expectation or run error, 2 usage or config error.
Run 'racelab help <command>' for a command's flags.
`)
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(e *env, name, synopsis, examples string) *flag.FlagSet {
	return newFlagsAbout(e, name, synopsis, "", examples)
}

// newFlagsAbout is newFlags with a paragraph about the command between
// the synopsis and the flags. Every command's help has the same shape:
// Usage, about, Flags, Examples.
func newFlagsAbout(e *env, name, synopsis, about, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: racelab %s\n\n", synopsis)
		if about != "" {
			fmt.Fprintf(out, "%s\n\n", strings.TrimRight(about, "\n"))
		}
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(out, "Flags:\n")
			fs.PrintDefaults()
		}
		if examples != "" {
			if n > 0 {
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "Examples:\n%s", examples)
		}
	}
	return fs
}

// parse parses flags; it returns an exit code and false when the command
// must stop (help asked: usage on stdout, 0; bad flags: the error and a
// hint on stderr, 2). The flag package would print the usage itself on
// every error and on -h (to stderr): parse silences that and prints the
// usage once, where it belongs.
func parse(e *env, fs *flag.FlagSet, args []string) (int, bool) {
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(e.stderr)
	err := fs.Parse(args)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			usage()
			fs.SetOutput(e.stderr)
			return ExitOK, false
		}
		fmt.Fprintf(e.stderr, "run 'racelab %s -h' for usage\n", fs.Name())
		return ExitUsage, false
	}
	return 0, true
}

// parseInterleaved parses flags that may come before or after positional
// arguments ("run six-step --proxy nginx").
func parseInterleaved(e *env, fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var pos []string
	for {
		if code, ok := parse(e, fs, args); !ok {
			return nil, code, false
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, 0, true
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func runVersion(_ context.Context, e *env, args []string) int {
	fs := newFlags(e, "version", "version", "  racelab version\n")
	if code, ok := parse(e, fs, args); !ok {
		return code
	}
	fmt.Fprintf(e.stdout, "racelab %s (%s %s/%s)\n", lab.Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return ExitOK
}
