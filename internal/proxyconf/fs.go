package proxyconf

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Limits keep the parsers bounded on any input.
const (
	MaxFileSize  = 8 << 20  // one config file
	MaxTotalSize = 64 << 20 // all files of one configuration, includes too
	MaxFiles     = 1024     // files of one configuration
	MaxDepth     = 16       // nested includes
	MaxNesting   = 64       // nested blocks
)

// FS is what the parsers read through; tests use an in-memory one.
type FS interface {
	ReadFile(name string) ([]byte, error)
	// Glob returns the sorted names matching pattern.
	Glob(pattern string) ([]string, error)
	IsDir(name string) bool
}

// OSFS reads the host's file system, each file bounded by MaxFileSize.
type OSFS struct{}

// ReadFile reads name, failing above MaxFileSize.
func (OSFS) ReadFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, MaxFileSize)
	}
	return data, nil
}

// Glob is filepath.Glob.
func (OSFS) Glob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

// IsDir reports an existing directory.
func (OSFS) IsDir(name string) bool {
	st, err := os.Stat(name)
	return err == nil && st.IsDir()
}

// Display is how a path shows in positions: standard input ("-") is
// "stdin".
func Display(path string) string {
	if path == "-" {
		return "stdin"
	}
	return path
}

// HasMeta reports glob metacharacters.
func HasMeta(p string) bool { return strings.ContainsAny(p, `*?[`) }

// IsNotExist reports a missing file anywhere in err's chain.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
