package guard

import (
	"time"

	"github.com/racelab/racelab/internal/proxyconf"
)

// memFS is an in-memory file system for the readers.
type memFS = proxyconf.MemFS

// durations lists the finite durations of vals by name, "off" and
// "unbounded" for the others, for compact assertions.
func durations(vals []Value) map[string]string {
	out := map[string]string{}
	for _, v := range vals {
		out[v.Name] = v.Show()
	}
	return out
}

func sec(n int) time.Duration { return time.Duration(n) * time.Second }
