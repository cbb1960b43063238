package proxyconf

import (
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
)

// MemFS is an FS held in memory: a cleaned absolute file name to its
// content. Directories exist by the files below them. Tests read
// configuration trees through it.
type MemFS map[string]string

// ReadFile returns name's content, or an fs.ErrNotExist error.
func (m MemFS) ReadFile(name string) ([]byte, error) {
	s, ok := m[filepath.Clean(name)]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return []byte(s), nil
}

// Glob returns the sorted names matching pattern.
func (m MemFS) Glob(pattern string) ([]string, error) {
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, err
	}
	var out []string
	for name := range m {
		if ok, _ := filepath.Match(pattern, name); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// IsDir reports whether a file lies below name.
func (m MemFS) IsDir(name string) bool {
	prefix := filepath.Clean(name) + "/"
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}
