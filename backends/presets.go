package backends

import "time"

// Preset is a backend runtime's keep-alive default, so a scenario can say
// "behave like Node.js" instead of a number.
type Preset struct {
	// Name is the lowercase name a scenario uses.
	Name string
	// IdleTimeout is the runtime's keep-alive idle timeout (0: none).
	IdleTimeout time.Duration
	// Note says where the value comes from and what qualifies it.
	Note string
}

// Config returns a backend configuration with the preset's idle timeout
// and everything else at its zero value.
func (p Preset) Config() Config { return Config{IdleTimeout: p.IdleTimeout} }

var presets = []Preset{
	// Where racelab measured a runtime closing systematically later than
	// its setting (racelab behaviour --runtimes, docs/runtimes.md), the
	// preset is the close measured at the default.
	{"node", 6 * time.Second, "Node.js http.Server keepAliveTimeout, 5s default (v20); Node.js 20.20 closes 1s later, at 6.0s (measured); a later major raises the default to 65s"},
	{"gunicorn", 2 * time.Second, "gunicorn --keep-alive, 2s default; the sync worker ignores keep-alive"},
	{"uvicorn", 5 * time.Second, "uvicorn --timeout-keep-alive, 5s default"},
	{"puma", 20200 * time.Millisecond, "Puma persistent_timeout before 7.0, 20s default; Puma 5.6 closes 0.2s later, at 20.2s (measured)"},
	{"puma7", 65 * time.Second, "Puma persistent_timeout from 7.0, 65s default"},
	{"tomcat", 60 * time.Second, "Tomcat keepAliveTimeout, defaults to connectionTimeout, 60s"},
	{"tomcat-server-xml", 20 * time.Second, "Tomcat with the stock server.xml, connectionTimeout=20000"},
	{"apache", 5 * time.Second, "Apache httpd KeepAliveTimeout, 5s default"},
	{"nginx", 75 * time.Second, "nginx as a backend, keepalive_timeout 75s default"},
	{"go", 0, "Go http.Server: IdleTimeout 0 falls back to ReadTimeout, none by default"},
}

// Presets returns every preset, in a fixed order.
func Presets() []Preset { return append([]Preset(nil), presets...) }

// LookupPreset returns the preset called name.
func LookupPreset(name string) (Preset, bool) {
	for _, p := range presets {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}
