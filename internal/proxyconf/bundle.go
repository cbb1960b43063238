package proxyconf

import (
	"path/filepath"

	"github.com/racelab/racelab/proxies"
)

// Bundle is the result as a proxies.Bundle for dir.
func (r *Result) Bundle(dir string) *proxies.Bundle {
	b := &proxies.Bundle{
		Dir:          filepath.Clean(dir),
		Files:        r.Files,
		Dirs:         r.Dirs,
		Args:         r.Args,
		ValidateArgs: r.ValidateArgs,
		Env:          r.Env,
		Route:        proxies.Route(r.Route),
		Effective:    map[string]proxies.Setting{},
		Origins:      r.Origins,
		SyncPath:     r.SyncPath,
	}
	for _, c := range r.Changes {
		b.Changes = append(b.Changes, proxies.Change(c))
	}
	for _, s := range r.Effective {
		b.Effective[s.Name] = proxies.Setting{Value: s.Value, Source: s.Source, Default: s.Default, Note: s.Note}
	}
	return b
}

// FromSpec is the rewrite input for a proxies.Spec with a user
// configuration, before the kind's evidence format is set.
func FromSpec(spec proxies.Spec, dir string) Input {
	c := spec.Config
	closed := c.Closed
	if closed == "" {
		closed = proxies.DefaultClosedAddr
	}
	return Input{
		Kind:      string(spec.Kind),
		Path:      c.Path,
		Root:      c.Root,
		Upstream:  c.Upstream,
		Backend:   spec.Upstream,
		Closed:    closed,
		Listen:    spec.Listen,
		Dir:       dir,
		Timescale: c.Timescale,
	}
}
