package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
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
