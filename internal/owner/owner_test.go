package owner

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as a process may choose.
	line := "4242 (nginx: a (b) c) S 1 4240 4239 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 0 0"
	st, err := parseStat(4242, []byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := stat{pid: 4242, ppid: 1, pgrp: 4240, sid: 4239, state: 'S', start: 987654}
	if st != want {
		t.Errorf("parseStat = %+v, want %+v", st, want)
	}
	for _, bad := range []string{"", "4242 (x", "4242 (x) S 1 2"} {
		if _, err := parseStat(4242, []byte(bad)); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

func TestMarkGone(t *testing.T) {
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	exited := exitedPID(t)
	other := me
	other.Boot = "another-boot"
	recycled := me
	recycled.Start++
	for _, tc := range []struct {
		name string
		m    Mark
		gone bool
	}{
		{"self", me, false},
		{"recycled pid", recycled, true},
		{"exited", Mark{PID: exited, Start: 1, Boot: me.Boot, PIDNS: me.PIDNS}, true},
		{"other boot", Mark{PID: exited, Start: 1, Boot: "another-boot", PIDNS: me.PIDNS}, false},
		{"other pid namespace", Mark{PID: exited, Start: 1, Boot: me.Boot, PIDNS: "pid:[1]"}, false},
		{"other boot, recycled", other, false},
	} {
		if got := tc.m.Gone(); got != tc.gone {
			t.Errorf("%s: Gone() = %v, want %v", tc.name, got, tc.gone)
		}
	}
	if got, ok := FromLabels(me.Labels()); !ok || got != me {
		t.Errorf("FromLabels(Labels()) = %+v, %v; want %+v", got, ok, me)
	}
	if _, ok := FromLabels(map[string]string{"racelab.managed": "true"}); ok {
		t.Error("FromLabels found a mark in labels without one")
	}
}

// exitedPID returns the PID of a process that has exited and been reaped.
func exitedPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// startGroup starts a shell leading a process group of its own with a
// child: a master and its worker. It returns the group, recorded before
// the shell can be reaped.
func startGroup(t *testing.T) (Group, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command("sh", "-c", "sleep 60 & exec sleep 60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	g, err := GroupOf(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the worker.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ms, err := g.members()
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 2 {
			return g, cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("group %d has %d processes, want 2", g.PGID, len(ms))
		}
		time.Sleep(time.Millisecond)
	}
}

func alive(t *testing.T, g Group) int {
	t.Helper()
	ms, err := g.members()
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// writeMark writes m as dir's owner mark.
func writeMark(t *testing.T, dir string, m DirMark) {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, MarkFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// The sweep kills the groups and removes the directory of a gone owner,
// and touches nothing of a live owner, nothing unmarked and nothing not
// named racelab-*. A dry run lists and removes nothing.
func TestSweep(t *testing.T) {
	me, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	gone := me
	gone.Start++ // this PID, another process: gone
	tmp := t.TempDir()

	orphans, _ := startGroup(t)
	live, _ := startGroup(t)
	goneDir := filepath.Join(tmp, DirPrefix+"nginx-1")
	writeMark(t, goneDir, DirMark{Owner: gone, Groups: []Group{orphans}})
	liveDir := filepath.Join(tmp, DirPrefix+"nginx-2")
	writeMark(t, liveDir, DirMark{Owner: me, Groups: []Group{live}})
	unmarked := filepath.Join(tmp, DirPrefix+"kept-3")
	if err := os.Mkdir(unmarked, 0o700); err != nil {
		t.Fatal(err)
	}
	otherName := filepath.Join(tmp, "other-4")
	writeMark(t, otherName, DirMark{Owner: gone})
	foreign := filepath.Join(tmp, DirPrefix+"foreign-5") // another machine's
	foreignOwner := gone
	foreignOwner.Boot = "another-boot"
	writeMark(t, foreign, DirMark{Owner: foreignOwner})
	link := filepath.Join(tmp, DirPrefix+"link-6")
	if err := os.Symlink(goneDir, link); err != nil {
		t.Fatal(err)
	}

	rs, err := sweepDir(tmp, true)
	if err != nil {
		t.Fatal(err)
	}
	got := lines(rs)
	want := []string{
		"process group " + itoa(orphans.PGID) + " (2 processes) of racelab pid " + itoa(me.PID) + ", which is gone",
		"temp dir " + goneDir + " of racelab pid " + itoa(me.PID) + ", which is gone",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("dry run listed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !exists(goneDir) || alive(t, orphans) != 2 {
		t.Fatal("dry run removed something")
	}

	rs, err = sweepDir(tmp, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := lines(rs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sweep removed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := alive(t, orphans); n != 0 {
		t.Errorf("%d processes of the gone owner's group left", n)
	}
	if exists(goneDir) {
		t.Error("gone owner's dir left")
	}
	if n := alive(t, live); n != 2 {
		t.Errorf("live owner's group has %d processes, want 2 untouched", n)
	}
	for _, d := range []string{liveDir, unmarked, otherName, foreign, link} {
		if !exists(d) {
			t.Errorf("%s removed", d)
		}
	}
}

func lines(rs []Removal) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// When its owner's pipe ends, the keeper kills the tracked groups and
// removes the tracked directories, and leaves what was released.
func TestKeeper(t *testing.T) {
	// The race detector sleeps a second before a process exits.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	c, err := startKeeper() // a keeper of its own, not this process's
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	kept, _ := startGroup(t)
	released, _ := startGroup(t)
	keptDir := filepath.Join(tmp, DirPrefix+"a")
	releasedDir := filepath.Join(tmp, DirPrefix+"b")
	for _, d := range []string{keptDir, releasedDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := MarkDir(d); err != nil {
			t.Fatal(err)
		}
	}
	for _, it := range []Item{{Group: &kept}, {Dir: keptDir}} {
		if _, err := c.track(it); err != nil {
			t.Fatal(err)
		}
	}
	for _, it := range []Item{{Group: &released}, {Dir: releasedDir}} {
		release, err := c.track(it)
		if err != nil {
			t.Fatal(err)
		}
		release()
	}

	// The owner dies: its end of the pipe closes.
	began := time.Now()
	if err := c.w.Close(); err != nil {
		t.Fatal(err)
	}
	for alive(t, kept) > 0 {
		if time.Since(began) > 2*time.Second {
			t.Fatalf("group %d still has %d processes 2s after its owner's pipe closed", kept.PGID, alive(t, kept))
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("group killed %s after the pipe closed", time.Since(began).Round(time.Millisecond))
	for exists(keptDir) {
		if time.Since(began) > 5*time.Second {
			t.Fatal("tracked dir still there 5s after its owner's pipe closed")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("dir removed %s after the pipe closed", time.Since(began).Round(time.Millisecond))
	// The keeper exits once done; what was released is untouched.
	keeperPID := c.cmd.Process.Pid
	for {
		st, err := readStat(keeperPID)
		if err != nil || st.state == 'Z' {
			break
		}
		if time.Since(began) > 5*time.Second {
			t.Fatal("keeper still running 5s after its owner's pipe closed")
		}
		time.Sleep(time.Millisecond)
	}
	if n := alive(t, released); n != 2 {
		t.Errorf("released group has %d processes, want 2", n)
	}
	if !exists(releasedDir) {
		t.Error("released dir removed")
	}
}
