package guard

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/racelab/racelab/internal/proxyconf"
)

// Varnish's and Squid's own defaults for the upstream idle timeout.
const (
	varnishDefaultIdle = 60 * time.Second
	varnishMinIdle     = time.Second
	squidDefaultIdle   = time.Minute
)

// varnishParamRE finds "-p backend_idle_timeout=VALUE" (or "-pbackend…")
// on a command line, a systemd unit or an environment file
// (DAEMON_OPTS, VARNISH_*).
var varnishParamRE = regexp.MustCompile(`-p\s*backend_idle_timeout=([^\s"']+)`)

// readVarnish reads Varnish's upstream idle timeout: varnishd's
// backend_idle_timeout parameter, from the command lines of a deployment
// file (compose, Kubernetes, Procfile, shell), or from any file that
// holds a varnishd command line (a systemd unit, /etc/default/varnish). A
// VCL file cannot set it: the guard reports the default and says so.
func readVarnish(c *readConfig, path string) ([]Value, error) {
	return withData(c, path, func(src string, data []byte) ([]Value, error) {
		if format := launchFormat(src, data); format != "" {
			return readLaunches(c, "varnish", format, src, data)
		}
		return parseVarnishText(src, data)
	})
}

func parseVarnishText(src string, data []byte) ([]Value, error) {
	type hit struct {
		line int
		val  string
	}
	var hits []hit
	varnishd, vcl := false, false
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "#") || strings.HasPrefix(trim, "//") {
			continue
		}
		if strings.Contains(line, "varnishd") || strings.Contains(line, "DAEMON_OPTS") || strings.Contains(line, "VARNISH") {
			varnishd = true
		}
		if strings.HasPrefix(trim, "vcl ") || strings.HasPrefix(trim, "backend ") || strings.HasPrefix(trim, "sub vcl_") {
			vcl = true
		}
		for _, m := range varnishParamRE.FindAllStringSubmatch(line, -1) {
			hits = append(hits, hit{n, m[1]})
		}
	}
	switch {
	case len(hits) > 1:
		var b strings.Builder
		fmt.Fprintf(&b, "read varnish: %s: backend_idle_timeout is set %d times:", src, len(hits))
		for _, h := range hits {
			fmt.Fprintf(&b, " line %d (%s)", h.line, h.val)
		}
		b.WriteString("; ambiguous: keep one varnishd command line per file")
		return nil, fmt.Errorf("%s", b.String())
	case len(hits) == 1:
		d, err := varnishSeconds(hits[0].val)
		if err != nil {
			return nil, fmt.Errorf("read varnish: %s:%d: backend_idle_timeout=%s: %w", src, hits[0].line, hits[0].val, err)
		}
		return []Value{{State: StateFinite, Duration: d, Source: fmt.Sprintf("%s:%d", src, hits[0].line),
			Explanation: "varnishd -p backend_idle_timeout=" + hits[0].val + " (seconds)"}}, nil
	case vcl:
		return []Value{{State: StateFinite, Duration: varnishDefaultIdle, Source: src, Default: true,
			Explanation: "backend_idle_timeout not set: Varnish's default 60s",
			Notes:       []string{"VCL cannot set the backend idle timeout: it is varnishd's backend_idle_timeout parameter (-p backend_idle_timeout= on the command line, or param.set); read the file that starts varnishd for the value in use"}}}, nil
	case varnishd:
		return []Value{{State: StateFinite, Duration: varnishDefaultIdle, Source: src, Default: true,
			Explanation: "varnishd command line without -p backend_idle_timeout: Varnish's default 60s"}}, nil
	}
	return nil, fmt.Errorf("read varnish: %s: neither a VCL file nor a varnishd command line", src)
}

// varnishLaunch reads -p backend_idle_timeout from a varnishd command
// line of a deployment file.
func varnishLaunch(_ *readConfig, l launch, args []string) (Value, error) {
	val := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		p := ""
		switch {
		case a == "-p" && i+1 < len(args):
			p, i = args[i+1], i+1
		case strings.HasPrefix(a, "-p"):
			p = a[2:]
		}
		if v, ok := strings.CutPrefix(p, "backend_idle_timeout="); ok {
			val = v // the last one wins, as varnishd applies them in order
		}
	}
	if val == "" {
		return Value{State: StateFinite, Duration: varnishDefaultIdle, Source: l.src, Name: l.name, Default: true,
			Explanation: "varnishd without -p backend_idle_timeout: Varnish's default 60s"}, nil
	}
	d, err := varnishSeconds(val)
	if err != nil {
		return Value{}, fmt.Errorf("%s: backend_idle_timeout=%s: %w", l.src, val, err)
	}
	return Value{State: StateFinite, Duration: d, Source: l.src, Name: l.name,
		Explanation: "varnishd -p backend_idle_timeout=" + val + " (seconds)"}, nil
}

// varnishSeconds reads a varnishd timeout parameter: seconds, fractions
// allowed ("65", "1.5"), at least Varnish's minimum of one second.
func varnishSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0, fmt.Errorf("want a number of seconds, as varnishd takes it")
	}
	d := time.Duration(f * float64(time.Second))
	if d < varnishMinIdle {
		return 0, fmt.Errorf("below varnishd's minimum of 1 second (varnishd refuses it)")
	}
	return d, nil
}

// readSquid reads Squid's upstream idle timeout from squid.conf:
// server_idle_pconn_timeout (the last line wins, as in Squid), Squid's
// default one minute when absent, off with server_persistent_connections
// off. Conditionals (if/else) and includes are not followed.
func readSquid(c *readConfig, path string) ([]Value, error) {
	return withData(c, path, func(src string, data []byte) ([]Value, error) { return parseSquid(src, data) })
}

func parseSquid(src string, data []byte) ([]Value, error) {
	var idle *Value
	var notes []string
	off := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		at := fmt.Sprintf("%s:%d", src, n)
		switch f[0] {
		case "if", "else", "endif":
			return nil, fmt.Errorf("read squid: %s: conditional configuration (%s): which branch applies depends on the machine; not read", at, f[0])
		case "include":
			notes = append(notes, fmt.Sprintf("%s: include %s not followed", at, strings.Join(f[1:], " ")))
		case "server_persistent_connections":
			if len(f) > 1 && f[1] == "off" {
				off = at
			} else {
				off = ""
			}
		case "server_idle_pconn_timeout":
			d, err := squidDuration(f[1:])
			if err != nil {
				return nil, fmt.Errorf("read squid: %s: server_idle_pconn_timeout %s: %w", at, strings.Join(f[1:], " "), err)
			}
			v := Value{State: StateFinite, Duration: d, Source: at,
				Explanation: "server_idle_pconn_timeout " + strings.Join(f[1:], " ")}
			if d == 0 {
				v = Value{State: StateOff, Source: at, Explanation: "server_idle_pconn_timeout 0: idle server connections are not kept"}
			}
			idle = &v
		}
	}
	if off != "" {
		return []Value{{State: StateOff, Source: off, Notes: notes,
			Explanation: "server_persistent_connections off: Squid keeps no idle server connection"}}, nil
	}
	if idle == nil {
		return []Value{{State: StateFinite, Duration: squidDefaultIdle, Source: src, Default: true, Notes: notes,
			Explanation: "server_idle_pconn_timeout not set: Squid's default 1 minute"}}, nil
	}
	idle.Notes = append(notes, "Squid checks timeouts once a second against a whole-second clock: an idle connection can close up to about 2 s after the timeout (measured on 5.7)")
	return []Value{*idle}, nil
}

// squidDuration reads a squid.conf time value: a number and a unit
// (second, minute, hour, day, week, fortnight; plural too). Squid reads a
// bare number as seconds with a warning; the guard does too, and says so
// only through the explanation. The reading is proxyconf's, which the run
// of a user's squid.conf uses too.
func squidDuration(f []string) (time.Duration, error) {
	return proxyconf.ParseSquidTime(strings.Join(f, " "))
}
