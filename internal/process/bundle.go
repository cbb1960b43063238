package process

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/racelab/racelab/internal/owner"
	"github.com/racelab/racelab/proxies"
)

// prepare creates a fresh 0700 directory carrying racelab's owner mark,
// renders spec for it and writes the bundle. It returns the directory
// even on error so the caller can remove it.
func prepare(a proxies.Adapter, spec proxies.Spec) (string, *proxies.Bundle, error) {
	dir, err := owner.TempDir(owner.DirPrefix + string(a.Kind()) + "-")
	if err != nil {
		return dir, nil, err
	}
	b, err := a.Render(spec, dir)
	if err != nil {
		return dir, nil, err
	}
	if err := writeBundle(dir, b); err != nil {
		return dir, nil, err
	}
	return dir, b, nil
}

// writeBundle writes b's files (0600) and directories (0700) under dir.
// Paths must be local to dir: an adapter cannot write outside it.
func writeBundle(dir string, b *proxies.Bundle) error {
	if b == nil {
		return fmt.Errorf("write bundle: adapter returned no bundle")
	}
	if filepath.Clean(b.Dir) != filepath.Clean(dir) {
		return fmt.Errorf("write bundle: rendered for %q, not %q", b.Dir, dir)
	}
	for _, d := range b.Dirs {
		if !filepath.IsLocal(d) {
			return fmt.Errorf("write bundle: directory %q is not inside the bundle", d)
		}
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return fmt.Errorf("write bundle: %w", err)
		}
	}
	names := make([]string, 0, len(b.Files))
	for name := range b.Files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !filepath.IsLocal(name) {
			return fmt.Errorf("write bundle: file %q is not inside the bundle", name)
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("write bundle: %w", err)
		}
		if err := os.WriteFile(p, []byte(b.Files[name]), 0o600); err != nil {
			return fmt.Errorf("write bundle: %w", err)
		}
	}
	return nil
}
