package process

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/racelab/racelab/proxies"
)

// sbinDirs are searched after PATH: proxies install into sbin directories,
// which are often missing from an unprivileged user's PATH.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// LookPath finds the adapter's binary on PATH, then in /usr/sbin,
// /usr/local/sbin and /sbin. The error wraps exec.ErrNotFound when the
// binary is nowhere.
func LookPath(a proxies.Adapter) (string, error) {
	name := a.Binary()
	if name == "" {
		return "", fmt.Errorf("look path %s: adapter names no binary", a.Kind())
	}
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	if strings.ContainsRune(name, filepath.Separator) {
		return "", fmt.Errorf("look path %s: %s: %w", a.Kind(), name, exec.ErrNotFound)
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, name)
		if isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("look path %s: %s not on PATH nor in %s: %w",
		a.Kind(), name, strings.Join(sbinDirs, ", "), exec.ErrNotFound)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

func (o options) binaryFor(a proxies.Adapter) (string, error) {
	if o.binary != "" {
		return o.binary, nil
	}
	return LookPath(a)
}
