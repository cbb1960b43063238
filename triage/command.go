package triage

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/racelab/racelab/scenarios"
)

// Exit codes of the triage command: the racelab CLI's own.
const (
	ExitClean    = 0 // analysed; no 5xx carries the race signature
	ExitRace     = 1 // analysed; some 5xx carry the race signature
	ExitUnusable = 2 // usage, unreadable input, or no line parsed
)

// Synopsis, About and Examples are the help of `racelab triage`.
const (
	Synopsis = "triage [flags] FILE..."
	About    = `Reads production access logs (and nginx's error log) and answers "is this
5xx the keep-alive race?": every 5xx is classified as race (the proxy's own
cause code for a stale reused connection), backend_5xx, timeout, capacity or
other, with the field the decision rests on. The idle gap before each request
to the same target estimates the backend's effective keep-alive: the gap
below which race failures never occur. Files are streamed (any size; gzip
accepted); lines that are not lines of the format are counted as unparsed.

Formats: alb (AWS ALB access log), gclb (Google Cloud load balancer log
entries, one JSON object a line), nginx (combined access log; give the error
log too, it tells the race from a backend's own 502), haproxy (option
httplog), envoy (default format or JSON), caddy (JSON access and error logs),
auto (sniffed per file).

Exit status: 0 no race signature, 1 race signature found, 2 unusable input
or usage.`
	Examples = `  racelab triage --format nginx /var/log/nginx/access.log* /var/log/nginx/error.log*
  racelab triage --format alb --proxy-idle 60s alb-logs/*.log.gz
  racelab triage --format haproxy --json haproxy.log
  racelab triage access.log error.log --proxy-idle 60s --emit-scenario triage.yaml   # exit 1: race found
  racelab run triage.yaml
`
)

// Flags are the flags of `racelab triage`.
type Flags struct {
	format, proxyIdle, emit string
	json                    bool
	files                   []string
}

// Register defines the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.format, "format", string(FormatAuto), "log `format`: alb, gclb, nginx, haproxy, envoy, caddy, auto")
	fs.StringVar(&f.proxyIdle, "proxy-idle", "", "the proxy's upstream idle timeout, a `duration` (60s): states the parity rule with numbers")
	fs.StringVar(&f.emit, "emit-scenario", "", "write a racelab scenario reproducing the finding to `FILE`")
	fs.BoolVar(&f.json, "json", false, "print the report as JSON")
}

// Check checks the parsed flags; args are the log files.
func (f *Flags) Check(args []string) error {
	if len(args) == 0 {
		return errors.New("give at least one log file")
	}
	if _, err := ParseFormat(f.format); err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	if f.proxyIdle != "" {
		d, err := scenarios.ParseDuration(f.proxyIdle)
		if err != nil {
			return fmt.Errorf("--proxy-idle: %w", err)
		}
		if d <= 0 {
			return fmt.Errorf("--proxy-idle %s: want a positive duration", f.proxyIdle)
		}
	}
	f.files = args
	return nil
}

// Run analyses the files and prints the report on stdout. race is true
// when some 5xx carries the race signature; err is unusable input.
func Run(ctx context.Context, f *Flags, stdout io.Writer) (race bool, err error) {
	format, err := ParseFormat(f.format)
	if err != nil {
		return false, err
	}
	opts := []Option{WithFormat(format)}
	if f.proxyIdle != "" {
		d, err := scenarios.ParseDuration(f.proxyIdle)
		if err != nil {
			return false, fmt.Errorf("--proxy-idle: %w", err)
		}
		opts = append(opts, WithProxyIdle(d))
	}
	rep, err := Analyze(ctx, f.files, opts...)
	if err != nil {
		return false, err
	}
	if f.emit != "" {
		data, err := rep.Scenario()
		if err != nil {
			return false, fmt.Errorf("--emit-scenario: %w", err)
		}
		if err := os.WriteFile(f.emit, data, 0o644); err != nil {
			return false, fmt.Errorf("--emit-scenario: %w", err)
		}
	}
	if f.json {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.Text(stdout)
		if err == nil && f.emit != "" {
			_, err = fmt.Fprintf(stdout, "\nScenario written to %s: racelab run %s\n", f.emit, f.emit)
		}
	}
	return rep.Race > 0, err
}

// ExitCode maps Run's result to an exit code.
func ExitCode(race bool, err error) int {
	switch {
	case err != nil:
		return ExitUnusable
	case race:
		return ExitRace
	}
	return ExitClean
}
