package guard

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// maxDuration caps every parsed value: nothing idles for a century, and
// the cap keeps arithmetic on values far from overflow.
const maxDuration = 100 * 365 * 24 * time.Hour

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

// parseUint parses plain decimal digits, nothing else.
func parseUint(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("no digits")
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a whole number", s)
		}
		if n > (math.MaxInt64-9)/10 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// scale multiplies n units, rejecting anything above maxDuration.
func scale(n int64, unit time.Duration) (time.Duration, error) {
	if n < 0 || (n > 0 && unit > maxDuration/time.Duration(n)) {
		return 0, errors.New("longer than a century")
	}
	return time.Duration(n) * unit, nil
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

func hasLetter(s string) bool {
	for _, c := range s {
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			return true
		}
	}
	return false
}

// parseNginxTime parses nginx's time syntax: components such as "1h",
// "30m", "15s", "500ms" in decreasing order, optionally separated by
// spaces; a trailing bare number means seconds ("75" is 75 s). With
// msec false (directives kept in seconds) "ms" is not allowed; with msec
// true (keepalive_timeout and other millisecond directives) years and
// months are not.
func parseNginxTime(s string, msec bool) (time.Duration, error) {
	units := []struct {
		name string
		d    time.Duration
	}{
		{"y", 365 * 24 * time.Hour}, {"M", 30 * 24 * time.Hour}, {"w", 7 * 24 * time.Hour},
		{"d", 24 * time.Hour}, {"h", time.Hour}, {"ms", time.Millisecond}, {"m", time.Minute},
		{"s", time.Second},
	}
	rank := map[string]int{"y": 0, "M": 1, "w": 2, "d": 3, "h": 4, "m": 5, "s": 6, "ms": 7}
	if s == "" {
		return 0, errors.New("empty time")
	}
	var total time.Duration
	last := -1
	i := 0
	for i < len(s) {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i {
			return 0, fmt.Errorf("%q: expected a number at %q", s, s[i:])
		}
		n, err := parseUint(s[i:j])
		if err != nil {
			return 0, fmt.Errorf("%q: %w", s, err)
		}
		unit, name := time.Second, ""
		for _, u := range units {
			if strings.HasPrefix(s[j:], u.name) {
				unit, name = u.d, u.name
				break
			}
		}
		r := 8 // a bare trailing number: seconds, and must come last
		if name != "" {
			r = rank[name]
			if k := j + len(name); k < len(s) && hasLetter(s[k:k+1]) {
				return 0, fmt.Errorf("%q: unknown unit at %q (nginx takes ms, s, m, h, d, w, M, y)", s, s[j:])
			}
			j += len(name)
		} else if j < len(s) && s[j] != ' ' {
			return 0, fmt.Errorf("%q: unknown unit at %q (nginx takes ms, s, m, h, d, w, M, y)", s, s[j:])
		}
		switch {
		case name == "ms" && !msec:
			return 0, fmt.Errorf("%q: this directive takes whole seconds, not ms", s)
		case (name == "y" || name == "M") && msec:
			return 0, fmt.Errorf("%q: nginx does not take %s in a millisecond directive", s, name)
		case r <= last:
			return 0, fmt.Errorf("%q: units must decrease and appear once", s)
		}
		last = r
		d, err := scale(n, unit)
		if err != nil || total > maxDuration-d {
			return 0, fmt.Errorf("%q: longer than a century", s)
		}
		total += d
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if r == 8 && j < len(s) {
			return 0, fmt.Errorf("%q: a bare number must come last", s)
		}
		i = j
	}
	return total, nil
}

// parseHAProxyTime parses HAProxy's time format: a whole number with an
// optional unit among us, ms, s, m, h, d. A bare number means
// milliseconds, the opposite of nginx.
func parseHAProxyTime(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q: want a whole number with an optional unit (HAProxy: us, ms, s, m, h, d; none means ms)", s)
	}
	n, err := parseUint(s[:i])
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	var unit time.Duration
	switch s[i:] {
	case "", "ms":
		unit = time.Millisecond
	case "us":
		unit = time.Microsecond
	case "s":
		unit = time.Second
	case "m":
		unit = time.Minute
	case "h":
		unit = time.Hour
	case "d":
		unit = 24 * time.Hour
	default:
		return 0, fmt.Errorf("%q: unknown unit %q (HAProxy takes us, ms, s, m, h, d)", s, s[i:])
	}
	d, err := scale(n, unit)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	return d, nil
}

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

// parseProtoDuration parses the JSON form of google.protobuf.Duration that
// Envoy configs use: seconds with up to nine decimals and an "s" suffix
// ("60s", "0.5s"). A bare number is an error, as it is for Envoy.
func parseProtoDuration(s string) (time.Duration, error) {
	num, ok := strings.CutSuffix(s, "s")
	if !ok || num == "" {
		return 0, fmt.Errorf("%q: want seconds with an s suffix, like \"60s\" or \"0.5s\"", s)
	}
	whole, frac, hasFrac := strings.Cut(num, ".")
	if whole == "" || (hasFrac && (frac == "" || len(frac) > 9)) {
		return 0, fmt.Errorf("%q: want seconds with at most nine decimals, like \"0.5s\"", s)
	}
	n, err := parseUint(whole)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	d, err := scale(n, time.Second)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	if hasFrac {
		f, err := parseUint(frac + strings.Repeat("0", 9-len(frac)))
		if err != nil {
			return 0, fmt.Errorf("%q: %w", s, err)
		}
		d += time.Duration(f)
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
