package guard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// State says what kind of idle limit a Value describes.
type State string

const (
	// StateFinite is an idle timeout: Value.Duration holds it.
	StateFinite State = "finite"
	// StateUnbounded is the absence of an idle timer: an idle connection
	// stays open until something other than idleness closes it (Envoy
	// idle_timeout 0s, Node.js keepAliveTimeout 0, Tomcat -1).
	StateUnbounded State = "unbounded"
	// StateOff is no keep-alive on a backend, or no connection reuse on a
	// proxy: no pooled idle connection exists, so none can be reused while
	// it is being closed (Apache KeepAlive Off, nginx without keepalive
	// before 1.29.7, HAProxy http-reuse never).
	StateOff State = "off"
)

// Value is one idle limit and where it came from.
type Value struct {
	State State
	// Duration is the idle timeout when State is StateFinite.
	Duration time.Duration
	// Source is where the value was read: "conf/nginx.conf:14",
	// "--proxy-idle".
	Source string
	// Name tells apart several values of one source: an nginx upstream, an
	// Envoy cluster, an HAProxy backend, a Tomcat connector, a virtual host.
	Name string
	// Explanation says how the value was determined, units included.
	Explanation string
	// Default is true when the setting is absent and the software's
	// documented default applies.
	Default bool
	// Notes are caveats that do not change the value.
	Notes []string
}

// Finite returns a Value holding the idle timeout d.
func Finite(d time.Duration, source, explanation string) Value {
	return Value{State: StateFinite, Duration: d, Source: source, Explanation: explanation}
}

// Where is the value's source and name for one-line reports.
func (v Value) Where() string {
	if v.Name == "" {
		return v.Source
	}
	return v.Source + " " + v.Name
}

// Show is the value alone, in milliseconds where finite.
func (v Value) Show() string {
	switch v.State {
	case StateFinite:
		return FormatMS(v.Duration)
	case StateUnbounded:
		return "unbounded"
	case StateOff:
		return "off"
	}
	return "invalid"
}

// String is the value, its source and how it was determined:
// "60000ms from nginx.conf:14 upstream app: keepalive_timeout 60s".
func (v Value) String() string {
	s := v.Show() + " from " + v.Where()
	if v.Explanation != "" {
		s += ": " + v.Explanation
	}
	return s
}

// validate reports a Value that no reader should produce.
func (v Value) validate() error {
	switch v.State {
	case StateFinite:
		if v.Duration <= 0 {
			return fmt.Errorf("finite value %s is not positive", FormatMS(v.Duration))
		}
	case StateUnbounded, StateOff:
		if v.Duration != 0 {
			return fmt.Errorf("%s value carries a duration", v.State)
		}
	default:
		return fmt.Errorf("unknown state %q", v.State)
	}
	return nil
}

// FormatMS prints d in milliseconds, the one unit every comparison uses:
// "65000ms", "0.5ms".
func FormatMS(d time.Duration) string {
	if d%time.Millisecond == 0 {
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64) + "ms"
}

// ms is d in milliseconds for JSON.
func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

type valueJSON struct {
	State       State    `json:"state"`
	MS          *float64 `json:"ms,omitempty"`
	Source      string   `json:"source"`
	Name        string   `json:"name,omitempty"`
	Explanation string   `json:"explanation,omitempty"`
	Default     bool     `json:"default"`
	Notes       []string `json:"notes,omitempty"`
}

// MarshalJSON writes the duration as "ms", a number of milliseconds.
func (v Value) MarshalJSON() ([]byte, error) {
	out := valueJSON{State: v.State, Source: v.Source, Name: v.Name,
		Explanation: v.Explanation, Default: v.Default, Notes: v.Notes}
	if v.State == StateFinite {
		m := ms(v.Duration)
		out.MS = &m
	}
	return marshal(out)
}

// marshal is json.Marshal without HTML escaping, so ">=" stays readable.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
