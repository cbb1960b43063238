package guard

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/racelab/racelab/internal/proxyconf"
)

// maxDuration caps every parsed value: nothing idles for a century, and
// the cap keeps arithmetic on values far from overflow.
const maxDuration = proxyconf.MaxDuration

// The proxies' own time syntaxes are read where their configurations are
// parsed: one implementation for the guard and the runner.
var (
	parseNginxTime     = proxyconf.ParseNginxTime
	parseHAProxyTime   = proxyconf.ParseHAProxyTime
	parseProtoDuration = proxyconf.ParseProtoDuration
	parseUint          = proxyconf.ParseUint
	scale              = proxyconf.ScaleUnits
)

var errNoUnit = errors.New("a bare number has no unit")

// ParseDuration parses a duration given on the command line or in code.
// It takes Go's duration syntax ("65s", "65000ms", "1m5s", "0.5s") and
// insists on a unit: "60" is an error, because 60 seconds and 60
// milliseconds are both plausible idle timeouts. Negative values, empty
// strings and values above a century are errors too.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return 0, errors.New("empty duration")
	case t[0] == '-':
		return 0, fmt.Errorf("%q: negative duration", s)
	case t[0] == '+':
		return 0, fmt.Errorf("%q: unexpected sign", s)
	case isNumber(t):
		return 0, fmt.Errorf("%q: %w; write %ss or %sms", s, errNoUnit, t, t)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q: want a number with a unit (ms, s, m, h)", s)
	}
	if d > maxDuration {
		return 0, fmt.Errorf("%q: longer than a century", s)
	}
	return d, nil
}

// ParseValue parses an explicit --backend-keepalive or --proxy-idle
// value: a positive duration with a unit, "off" (no keep-alive or no
// reuse) or "unbounded" (no idle timer). Zero is an error: runtimes give it
// opposite meanings (nginx: keep-alive off; Node.js and Envoy: no timer).
func ParseValue(s, source string) (Value, error) {
	switch strings.TrimSpace(s) {
	case "off":
		return Value{State: StateOff, Source: source, Explanation: "given as off: no keep-alive or no connection reuse"}, nil
	case "unbounded":
		return Value{State: StateUnbounded, Source: source, Explanation: "given as unbounded: no idle timer"}, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return Value{}, err
	}
	if d == 0 {
		return Value{}, fmt.Errorf("%q: zero is ambiguous; write off (no keep-alive or reuse) or unbounded (no idle timer)", s)
	}
	return Finite(d, source, "given as "+strings.TrimSpace(s)), nil
}

// isNumber reports a bare decimal number: digits with at most one dot.
func isNumber(s string) bool {
	if s == "" || s == "." {
		return false
	}
	dot := false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return true
}

// parseWholeUnits parses a whole number of a source's native unit
// (gunicorn seconds, Tomcat milliseconds). A unit suffix is an error: the
// runtime would reject it or read it differently.
func parseWholeUnits(s string, unit time.Duration, unitName string) (time.Duration, error) {
	n, err := parseUint(s)
	if err != nil {
		if isNumber(s) {
			return 0, fmt.Errorf("%q: want a whole number of %s, not a fraction", s, unitName)
		}
		if withUnit.MatchString(s) {
			return 0, fmt.Errorf("%q: this setting is a whole number of %s, without a unit", s, unitName)
		}
		return 0, fmt.Errorf("%q: want a whole number of %s (a computed value cannot be read: give the value itself)", s, unitName)
	}
	d, err := scale(n, unit)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	return d, nil
}

var withUnit = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?\s*[A-Za-z]+$`)

// parseApacheTimeout parses Apache httpd's timeout syntax for
// KeepAliveTimeout: a whole number of seconds, or with a unit among ms,
// s, mi (minutes), h.
func parseApacheTimeout(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q: want a whole number of seconds, or with a unit (ms, s, mi, h)", s)
	}
	n, err := parseUint(s[:i])
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	var unit time.Duration
	switch strings.ToLower(s[i:]) {
	case "", "s":
		unit = time.Second
	case "ms":
		unit = time.Millisecond
	case "mi":
		unit = time.Minute
	case "h":
		unit = time.Hour
	default:
		return 0, fmt.Errorf("%q: unknown unit %q (Apache takes ms, s, mi, h; none means seconds)", s, s[i:])
	}
	d, err := scale(n, unit)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	return d, nil
}

// millisFloat converts a JSON number of milliseconds.
func millisFloat(f float64) (time.Duration, error) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return 0, errors.New("not a finite number")
	case f < 0:
		return 0, fmt.Errorf("%v: negative", f)
	case f > float64(maxDuration/time.Millisecond):
		return 0, fmt.Errorf("%v: longer than a century", f)
	}
	return time.Duration(math.Round(f * float64(time.Millisecond))), nil
}
