package owner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// Mark identifies the racelab process that owns something.
type Mark struct {
	// PID is the owner's process id.
	PID int `json:"pid"`
	// Start is the owner's start time in clock ticks since boot (field 22
	// of /proc/PID/stat): a PID the kernel handed out again has another.
	Start uint64 `json:"start"`
	// Boot is the kernel's boot id: PIDs and start times mean something
	// only within one boot.
	Boot string `json:"boot"`
	// PIDNS names the owner's PID namespace ("pid:[4026531836]").
	PIDNS string `json:"pidns"`
	// Host is the owner's host name, for messages only.
	Host string `json:"host,omitempty"`
}

var self struct {
	once sync.Once
	mark Mark
	err  error
}

// Self is the mark of this process.
func Self() (Mark, error) {
	self.once.Do(func() {
		self.mark, self.err = markOf(os.Getpid())
	})
	return self.mark, self.err
}

// markOf reads pid's mark. The boot and namespace are this process's.
func markOf(pid int) (Mark, error) {
	st, err := readStat(pid)
	if err != nil {
		return Mark{}, fmt.Errorf("owner mark: %w", err)
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return Mark{}, fmt.Errorf("owner mark: boot id: %w", err)
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return Mark{}, fmt.Errorf("owner mark: pid namespace: %w", err)
	}
	host, _ := os.Hostname()
	return Mark{PID: pid, Start: st.start, Boot: strings.TrimSpace(string(boot)), PIDNS: ns, Host: host}, nil
}

// Local reports whether m was made in this boot and PID namespace, where
// its PID and start time can be checked.
func (m Mark) Local() bool {
	me, err := Self()
	return err == nil && m.Boot != "" && m.Boot == me.Boot && m.PIDNS == me.PIDNS
}

// Gone reports whether m's owner has certainly exited: the mark is local
// and no process has its PID, or the one that has it started at another
// time, or it is a zombie (dead, not yet reaped: an orphan waits for an
// init that may reap slowly). An owner that cannot be checked is not
// gone.
func (m Mark) Gone() bool {
	if !m.Local() || m.PID <= 0 {
		return false
	}
	st, err := readStat(m.PID)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	return err == nil && (st.start != m.Start || st.state == 'Z')
}

// String describes the owner for messages: "racelab pid 4242".
func (m Mark) String() string { return "racelab pid " + strconv.Itoa(m.PID) }

// Labels that carry a Mark on a container.
const (
	LabelPID   = "racelab.owner.pid"
	LabelStart = "racelab.owner.start"
	LabelBoot  = "racelab.owner.boot"
	LabelPIDNS = "racelab.owner.pidns"
	LabelHost  = "racelab.owner.host"
)

// Labels returns m as container labels.
func (m Mark) Labels() map[string]string {
	return map[string]string{
		LabelPID:   strconv.Itoa(m.PID),
		LabelStart: strconv.FormatUint(m.Start, 10),
		LabelBoot:  m.Boot,
		LabelPIDNS: m.PIDNS,
		LabelHost:  m.Host,
	}
}

// FromLabels reads a Mark from container labels; ok is false when they
// carry none.
func FromLabels(labels map[string]string) (m Mark, ok bool) {
	pid, err1 := strconv.Atoi(labels[LabelPID])
	start, err2 := strconv.ParseUint(labels[LabelStart], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 || labels[LabelBoot] == "" || labels[LabelPIDNS] == "" {
		return Mark{}, false
	}
	return Mark{PID: pid, Start: start, Boot: labels[LabelBoot], PIDNS: labels[LabelPIDNS], Host: labels[LabelHost]}, true
}

// Group is a process group racelab started: its id, its leader's start
// time and its session.
type Group struct {
	PGID  int    `json:"pgid"`
	Start uint64 `json:"start"`
	SID   int    `json:"sid"`
}

// GroupOf describes the process group that process pid leads. Call it
// while pid cannot have been reaped (a child not yet waited for).
func GroupOf(pid int) (Group, error) {
	st, err := readStat(pid)
	if err != nil {
		return Group{}, fmt.Errorf("process group %d: %w", pid, err)
	}
	if st.pgrp != pid {
		return Group{}, fmt.Errorf("process %d leads no process group (its group is %d)", pid, st.pgrp)
	}
	return Group{PGID: pid, Start: st.start, SID: st.sid}, nil
}

// MarkFile is the name of the owner mark in a directory racelab created.
const MarkFile = ".racelab-owner"

// DirMark is the content of a directory's MarkFile.
type DirMark struct {
	Owner Mark `json:"owner"`
	// Groups are the process groups started on the directory.
	Groups []Group `json:"groups,omitempty"`
}

// MarkDir writes this process's owner mark, with groups, into dir,
// replacing the one there. The write is atomic: a concurrent sweep sees
// the old mark, the new one, or none.
func MarkDir(dir string, groups ...Group) error {
	me, err := Self()
	if err != nil {
		return err
	}
	data, err := json.Marshal(DirMark{Owner: me, Groups: groups})
	if err != nil {
		return fmt.Errorf("mark %s: %w", dir, err)
	}
	tmp := filepath.Join(dir, MarkFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("mark %s: %w", dir, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, MarkFile)); err != nil {
		return fmt.Errorf("mark %s: %w", dir, err)
	}
	return nil
}

// UnmarkDir removes dir's owner mark, so no sweep removes it: for a
// directory kept on purpose.
func UnmarkDir(dir string) error {
	err := os.Remove(filepath.Join(dir, MarkFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("unmark %s: %w", dir, err)
	}
	return nil
}

// ReadDirMark reads dir's owner mark.
func ReadDirMark(dir string) (DirMark, error) {
	data, err := os.ReadFile(filepath.Join(dir, MarkFile))
	if err != nil {
		return DirMark{}, err
	}
	var m DirMark
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return DirMark{}, fmt.Errorf("owner mark in %s: %w", dir, err)
	}
	if m.Owner.PID <= 0 || m.Owner.Boot == "" {
		return DirMark{}, fmt.Errorf("owner mark in %s: no owner", dir)
	}
	return m, nil
}

// TempDir creates a fresh 0700 directory named pattern (as os.MkdirTemp,
// under os.TempDir) carrying this process's owner mark. It returns the
// directory even on error, when it exists, so the caller can remove it.
func TempDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", fmt.Errorf("temp dir: %w", err)
	}
	// MkdirTemp creates 0700 already; make sure a umask cannot widen it.
	if err := os.Chmod(dir, 0o700); err != nil {
		return dir, fmt.Errorf("temp dir: %w", err)
	}
	return dir, MarkDir(dir)
}
