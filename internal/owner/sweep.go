package owner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// DirPrefix starts the name of every temporary directory racelab
// creates; SweepLocal looks at these only.
const DirPrefix = "racelab-"

// Removal is one thing a sweep removed, or would remove.
type Removal struct {
	// What names it: "process group 4242 (3 processes)", "temp dir
	// /tmp/racelab-nginx-123", "container 0123456789ab (nginx)".
	What string
	// Owner is the gone owner it belonged to.
	Owner Mark
}

// String is the line a sweep prints: "process group 4242 (3 processes)
// of racelab pid 999, which is gone".
func (r Removal) String() string {
	return fmt.Sprintf("%s of %s, which is gone", r.What, r.Owner)
}

// SweepLocal removes what gone owners left in the temporary directory
// (os.TempDir): every directory named DirPrefix*, owned by this user and
// carrying a local owner mark whose owner is gone, and first the process
// groups recorded in the mark. With dryRun it removes nothing and returns
// what it would remove.
func SweepLocal(dryRun bool) ([]Removal, error) {
	return sweepDir(os.TempDir(), dryRun)
}

func sweepDir(tmp string, dryRun bool) ([]Removal, error) {
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", tmp, err)
	}
	var out []Removal
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), DirPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		if !ownedDir(dir) {
			continue
		}
		m, err := ReadDirMark(dir)
		if err != nil || !m.Owner.Gone() {
			continue // no mark (older racelab, kept on purpose), or a live owner
		}
		rs, err := sweepOne(dir, m, dryRun)
		out = append(out, rs...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// sweepOne kills the live groups of m and removes dir.
func sweepOne(dir string, m DirMark, dryRun bool) ([]Removal, error) {
	var out []Removal
	var errs []error
	for _, g := range m.Groups {
		ms, err := g.members()
		if err != nil || len(ms) == 0 {
			continue
		}
		n := len(ms)
		if !dryRun {
			n, err = g.kill()
			if err != nil {
				errs = append(errs, fmt.Errorf("kill process group %d: %w", g.PGID, err))
			}
		}
		if n > 0 {
			out = append(out, Removal{What: fmt.Sprintf("process group %d (%s)", g.PGID, plural(n, "process", "processes")), Owner: m.Owner})
		}
	}
	if dryRun {
		return append(out, Removal{What: "temp dir " + dir, Owner: m.Owner}), nil
	}
	if !awaitGone(m.Groups, groupWait) {
		errs = append(errs, fmt.Errorf("%s: process groups still alive %s after SIGKILL", dir, groupWait))
		return out, errors.Join(errs...)
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", dir, err))
	} else {
		out = append(out, Removal{What: "temp dir " + dir, Owner: m.Owner})
	}
	return out, errors.Join(errs...)
}

// ownedDir reports whether dir is a directory (not a link) owned by this
// process's user: the shared temporary directory holds others' too.
func ownedDir(dir string) bool {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
