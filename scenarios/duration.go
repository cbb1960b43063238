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
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	switch {
	case d%time.Hour == 0:
		return sign + strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0 && d >= time.Minute:
		return sign + strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return sign + strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d >= time.Second:
		return sign + strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
	case d%time.Millisecond == 0:
		return sign + strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	case d >= time.Millisecond:
		return sign + strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64) + "ms"
	case d%time.Microsecond == 0:
		return sign + strconv.FormatInt(int64(d/time.Microsecond), 10) + "us"
	}
	return sign + d.String()
}
