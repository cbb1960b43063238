package scenarios

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/racelab/racelab/proxies"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Builtin returns the names of the built-in scenarios, sorted.
func Builtin() []string {
	entries, _ := fs.ReadDir(builtinFS, "builtin")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// BuiltinSource returns the YAML of a built-in scenario.
func BuiltinSource(name string) ([]byte, error) {
	data, err := builtinFS.ReadFile(path.Join("builtin", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("no built-in scenario %q; built-in: %s", name, strings.Join(Builtin(), ", "))
	}
	return data, nil
}

// LoadBuiltin loads a built-in scenario by name.
func LoadBuiltin(name string) (*Scenario, error) {
	data, err := BuiltinSource(name)
	if err != nil {
		return nil, err
	}
	return Load(data, "builtin:"+name)
}

// Resolve loads ref as a file when one exists at that path, else as a
// built-in scenario name.
func Resolve(ref string) (*Scenario, error) {
	if _, err := os.Stat(ref); err == nil || strings.ContainsAny(ref, "/\\") || strings.HasSuffix(ref, ".yaml") || strings.HasSuffix(ref, ".yml") {
		return LoadFile(ref)
	}
	return LoadBuiltin(ref)
}

// OverrideProxy replaces the scenario's proxy selection (base and matrix
// axis) with p: the same experiment on another proxy.
func (s *Scenario) OverrideProxy(p Proxy) {
	s.Base.Proxy = p
	s.Matrix.Proxy = nil
}

// OverrideProxyConfig replaces the scenario's proxy selection (base and
// matrix axis) with the user's own configuration file of kind nginx,
// haproxy or envoy: path is relative to the working directory (a flag's
// value), upstream names the upstream, backend or cluster under test ("":
// the only one), root stands for "/" when absolute include paths are
// resolved ("": the real root). It returns the scenario's problems with
// that proxy: a
// bad kind, or a setting the file decides instead (proxy_idle, margin,
// retry, variant), each positioned in the scenario file when it was
// loaded from one.
func (s *Scenario) OverrideProxyConfig(kind, path, root, upstream string) error {
	switch proxies.Kind(kind) {
	case proxies.KindNginx, proxies.KindHAProxy, proxies.KindEnvoy, proxies.KindCaddy, proxies.KindApache, proxies.KindVarnish, proxies.KindSquid:
	default:
		return fmt.Errorf("override proxy config: kind %q: want nginx, haproxy, envoy, caddy, apache, varnish or squid (kind go has no config file)", kind)
	}
	if strings.TrimSpace(path) == "" {
		return errors.New("override proxy config: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("override proxy config: %w", err)
	}
	if root != "" {
		if root, err = filepath.Abs(root); err != nil {
			return fmt.Errorf("override proxy config: %w", err)
		}
	}
	s.OverrideProxy(Proxy{Kind: kind, Config: abs, Root: root, Upstream: upstream})
	if probs := s.Validate(); len(probs) > 0 {
		return s.src.locate(probs)
	}
	return nil
}

// OverrideRuntime sets the runtime of every proxy selection whose kind is
// not the embedded one.
func (s *Scenario) OverrideRuntime(rt string) {
	if s.Base.Proxy.Kind != "" && s.Base.Proxy.Kind != "go" {
		s.Base.Proxy.Runtime = rt
	}
	for i := range s.Matrix.Proxy {
		if s.Matrix.Proxy[i].Kind != "" && s.Matrix.Proxy[i].Kind != "go" {
			s.Matrix.Proxy[i].Runtime = rt
		}
	}
}

// OverrideLatency gives every cell a path with one-way latency d between
// the proxy and the backend (base path.latency; the latency axis is
// dropped). The path's jitter, if any, stays.
func (s *Scenario) OverrideLatency(d time.Duration) {
	dd := Duration(d)
	p := Path{Latency: &dd}
	if s.Base.Path != nil {
		p.Jitter = s.Base.Path.Jitter
	}
	s.Base.Path = &p
	s.Matrix.Latency = nil
}
