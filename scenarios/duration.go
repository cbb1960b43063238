package scenarios

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration that must carry its unit in YAML ("1500ms",
// "60s", "-1s"). A bare number is an error that suggests the unit.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return FormatDuration(time.Duration(d)) }

// MarshalYAML writes the duration with its unit.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML accepts only strings with units.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		if n.Kind != yaml.ScalarNode {
			err = fmt.Errorf("want a duration with a unit, like 60s")
		}
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("%d:%d: %v", n.Line, n.Column, err)}}
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses a duration that carries a unit. A bare number is an
// error that names the likely intent: "60" → "60 has no unit: write 60s (or
// 60ms)".
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration: want a value with a unit, like 60s")
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		if s == "0" {
			return 0, nil
		}
		return 0, fmt.Errorf("duration %s has no unit: write %ss (or %sms)", s, s, s)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want a number with a unit (ns, us, ms, s, m, h), like 1500ms", s)
	}
	return d, nil
}

// FormatDuration prints d compactly with a unit ("1.5s", "250ms", "-1s").
// The text is exact: ParseDuration gives d back, down to the nanosecond
// and for every value of d (cell ids and labels are made of it, so two
// durations never print alike).
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	sign, u := "", uint64(d)
	if d < 0 {
		// -d overflows for the smallest duration; its magnitude does not.
		sign, u = "-", uint64(-(d+1))+1
	}
	const (
		ns = uint64(time.Nanosecond)
		us = uint64(time.Microsecond)
		ms = uint64(time.Millisecond)
		s  = uint64(time.Second)
		m  = uint64(time.Minute)
		h  = uint64(time.Hour)
	)
	switch {
	case u%h == 0:
		return sign + strconv.FormatUint(u/h, 10) + "h"
	case u%m == 0 && u >= m:
		return sign + strconv.FormatUint(u/m, 10) + "m"
	case u >= s:
		return sign + decimal(u, s) + "s"
	case u >= ms:
		return sign + decimal(u, ms) + "ms"
	case u%us == 0:
		return sign + strconv.FormatUint(u/us, 10) + "us"
	case u >= us:
		return sign + decimal(u, us) + "µs" // as time.Duration prints it
	}
	return sign + strconv.FormatUint(u/ns, 10) + "ns"
}

// decimal prints u/unit exactly, with no trailing zeros after the point.
func decimal(u, unit uint64) string {
	whole := strconv.FormatUint(u/unit, 10)
	frac := u % unit
	if frac == 0 {
		return whole
	}
	digits := len(strconv.FormatUint(unit, 10)) - 1
	f := strconv.FormatUint(frac, 10)
	f = strings.Repeat("0", digits-len(f)) + f
	return whole + "." + strings.TrimRight(f, "0")
}
