package proxyconf

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// MaxDuration caps every parsed time: nothing idles for a century, and the
// cap keeps arithmetic on values far from overflow.
const MaxDuration = 100 * 365 * 24 * time.Hour

// ParseNginxTime parses nginx's time syntax: components such as "1h",
// "30m", "15s", "500ms" in decreasing order, optionally separated by
// spaces; a trailing bare number means seconds ("75" is 75 s). With
// msec false (directives kept in seconds) "ms" is not allowed; with msec
// true (keepalive_timeout and other millisecond directives) years and
// months are not.
func ParseNginxTime(s string, msec bool) (time.Duration, error) {
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
		n, err := ParseUint(s[i:j])
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
			if k := j + len(name); k < len(s) && isLetter(s[k]) {
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
		d, err := ScaleUnits(n, unit)
		if err != nil || total > MaxDuration-d {
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

// ParseHAProxyTime parses HAProxy's time format: a whole number with an
// optional unit among us, ms, s, m, h, d. A bare number means
// milliseconds, the opposite of nginx.
func ParseHAProxyTime(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%q: want a whole number with an optional unit (HAProxy: us, ms, s, m, h, d; none means ms)", s)
	}
	n, err := ParseUint(s[:i])
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
	d, err := ScaleUnits(n, unit)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	return d, nil
}

// ParseProtoDuration parses the JSON form of google.protobuf.Duration that
// Envoy configs use: seconds with up to nine decimals and an "s" suffix
// ("60s", "0.5s"). A bare number is an error, as it is for Envoy.
func ParseProtoDuration(s string) (time.Duration, error) {
	num, ok := strings.CutSuffix(s, "s")
	if !ok || num == "" {
		return 0, fmt.Errorf("%q: want seconds with an s suffix, like \"60s\" or \"0.5s\"", s)
	}
	whole, frac, hasFrac := strings.Cut(num, ".")
	if whole == "" || (hasFrac && (frac == "" || len(frac) > 9)) {
		return 0, fmt.Errorf("%q: want seconds with at most nine decimals, like \"0.5s\"", s)
	}
	n, err := ParseUint(whole)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	d, err := ScaleUnits(n, time.Second)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	if hasFrac {
		f, err := ParseUint(frac + strings.Repeat("0", 9-len(frac)))
		if err != nil {
			return 0, fmt.Errorf("%q: %w", s, err)
		}
		d += time.Duration(f)
	}
	return d, nil
}

// ParseUint parses plain decimal digits, nothing else.
func ParseUint(s string) (int64, error) {
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

// ScaleUnits multiplies n units, rejecting anything above MaxDuration.
func ScaleUnits(n int64, unit time.Duration) (time.Duration, error) {
	if n < 0 || (n > 0 && unit > MaxDuration/time.Duration(n)) {
		return 0, errors.New("longer than a century")
	}
	return time.Duration(n) * unit, nil
}

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
