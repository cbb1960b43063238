package process

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/racelab/racelab/proxies"
)

// VersionedRoot is the directory of proxy binaries built for racelab at
// a version of their own, beside the one on PATH:
// VersionedRoot/racelab-BINARY/VERSION/BINARY, e.g.
// $GOPATH/racelab-caddy/2.11.9/caddy from
//
//	GOBIN=$(go env GOPATH)/racelab-caddy/2.11.9 go install github.com/caddyserver/caddy/v2/cmd/caddy@v2.11.9
//
// It is the first entry of $GOPATH, else $HOME/go (go env GOPATH's
// default), else "".
func VersionedRoot() string {
	if gp := os.Getenv("GOPATH"); gp != "" {
		return filepath.SplitList(gp)[0]
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "go")
	}
	return ""
}

// VersionedDir is where LookVersioned looks for a's binaries.
func VersionedDir(a proxies.Adapter) string {
	root := VersionedRoot()
	if root == "" || a.Binary() == "" {
		return ""
	}
	return filepath.Join(root, "racelab-"+a.Binary())
}

// LookVersioned finds a's binary built at version ("2.11" or "2.11.9")
// under VersionedDir: the directory named version, else the highest
// version directory that starts with version + ".". The error wraps
// os.ErrNotExist when there is none.
func LookVersioned(a proxies.Adapter, version string) (string, error) {
	dir := VersionedDir(a)
	if dir == "" || version == "" {
		return "", fmt.Errorf("look versioned %s %s: %w", a.Kind(), version, os.ErrNotExist)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("look versioned %s %s: %w", a.Kind(), version, os.ErrNotExist)
	}
	var match []string
	for _, e := range entries {
		if n := e.Name(); n == version || strings.HasPrefix(n, version+".") {
			match = append(match, n)
		}
	}
	sort.Slice(match, func(i, j int) bool { return versionLess(match[j], match[i]) })
	for _, m := range match {
		p := filepath.Join(dir, m, a.Binary())
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("look versioned %s %s: no %s under %s: %w", a.Kind(), version, a.Binary(), dir, os.ErrNotExist)
}

// versionLess orders dotted versions numerically, field by field.
func versionLess(a, b string) bool {
	fa, fb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(fa) && i < len(fb); i++ {
		var na, nb int
		_, ea := fmt.Sscan(fa[i], &na)
		_, eb := fmt.Sscan(fb[i], &nb)
		if ea != nil || eb != nil {
			if fa[i] != fb[i] {
				return fa[i] < fb[i]
			}
			continue
		}
		if na != nb {
			return na < nb
		}
	}
	return len(fa) < len(fb)
}
