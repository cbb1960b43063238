package proxyconf

import (
	"strings"
	"testing"
)

// A server line's fail_timeout (nginx's 10s default when absent) is scaled
// like the upstream's idle timeout, in whole seconds, one at least; a
// server that keeps no failure count is left alone.
func TestScaleFailTimeout(t *testing.T) {
	for _, c := range []struct {
		args      string
		timescale float64
		want      string
		noted     bool
	}{
		{"127.0.0.1:1", 0.01, "127.0.0.1:1 fail_timeout=1s", true},
		{"127.0.0.1:1 max_fails=3 fail_timeout=10s", 0.01, "127.0.0.1:1 max_fails=3 fail_timeout=1s", true},
		{"127.0.0.1:1 fail_timeout=1m", 0.5, "127.0.0.1:1 fail_timeout=30s", true},
		{"127.0.0.1:1 fail_timeout=25s", 0.1, "127.0.0.1:1 fail_timeout=3s", true},
		{"127.0.0.1:1 max_fails=0", 0.01, "127.0.0.1:1 max_fails=0", false},
		{"127.0.0.1:1 fail_timeout=0", 0.01, "127.0.0.1:1 fail_timeout=0", false},
		{"127.0.0.1:1 fail_timeout=bogus", 0.01, "127.0.0.1:1 fail_timeout=bogus", false},
	} {
		r := &ngxRewriter{in: Input{Timescale: c.timescale}}
		d := &Directive{Name: "server", Args: strings.Fields(c.args)}
		note := r.scaleFailTimeout(d)
		if got := strings.Join(d.Args, " "); got != c.want {
			t.Errorf("server %s at %g: %q, want %q", c.args, c.timescale, got, c.want)
		}
		if (note != "") != c.noted {
			t.Errorf("server %s at %g: note %q", c.args, c.timescale, note)
		}
	}
}
