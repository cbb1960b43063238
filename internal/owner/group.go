package owner

import (
	"errors"
	"syscall"
	"time"
)

// members returns g's live processes (zombies left out). A process is a
// member when it is in process group g.PGID and session g.SID and
// started no earlier than g's leader.
//
// While any process is in group PGID, the kernel hands out neither PGID
// as a new process id nor the group id to anyone else, so the group's
// processes are g's own: its leader, while it lives with g's start time,
// or what the leader left behind. When a process with id PGID lives but
// started at another time, g is entirely gone and the id someone else's.
func (g Group) members() ([]stat, error) {
	if g.PGID <= 1 {
		return nil, nil
	}
	if leader, err := readStat(g.PGID); err == nil && leader.start != g.Start {
		return nil, nil
	}
	return processes(func(st stat) bool {
		return st.pgrp == g.PGID && st.sid == g.SID && st.start >= g.Start && st.state != 'Z'
	})
}

// kill sends SIGKILL to g's processes and returns how many there were:
// to the whole group while its leader lives, with the start time checked
// just before, else to each process left. Each is checked again just
// before its signal.
func (g Group) kill() (int, error) {
	ms, err := g.members()
	if err != nil || len(ms) == 0 {
		return 0, err
	}
	for _, m := range ms {
		if m.pid == g.PGID {
			if err := syscall.Kill(-g.PGID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return len(ms), err
			}
			return len(ms), nil
		}
	}
	var errs []error
	for _, m := range ms {
		if st, err := readStat(m.pid); err != nil || st.start != m.start || st.pgrp != g.PGID {
			continue // gone meanwhile
		}
		if err := syscall.Kill(m.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	return len(ms), errors.Join(errs...)
}

// awaitGone polls until no group in gs has a live process, or until d
// has passed; it reports whether they are all gone.
func awaitGone(gs []Group, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		alive := false
		for _, g := range gs {
			if ms, err := g.members(); err != nil || len(ms) > 0 {
				alive = true
				break
			}
		}
		if !alive {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Processes returns the PIDs of g's live processes (see members).
func (g Group) Processes() ([]int, error) {
	ms, err := g.members()
	pids := make([]int, len(ms))
	for i, m := range ms {
		pids[i] = m.pid
	}
	return pids, err
}
