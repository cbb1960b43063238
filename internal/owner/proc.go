package owner

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// stat is what racelab reads of /proc/PID/stat.
type stat struct {
	pid, ppid, pgrp, sid int
	state                byte   // field 3: 'R', 'S', 'Z' (zombie), ...
	start                uint64 // field 22: clock ticks after boot
}

// readStat reads /proc/pid/stat. A process that does not exist gives an
// error wrapping os.ErrNotExist.
func readStat(pid int) (stat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	return parseStat(pid, data)
}

// parseStat parses a /proc/PID/stat line. The command name (field 2) is
// in parentheses and may hold spaces and parentheses itself: the fields
// that follow start after the last ')'.
func parseStat(pid int, data []byte) (stat, error) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(data[i+1:]) // f[0] is field 3 (state)
	if len(f) < 20 {
		return stat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	field := func(n int) (uint64, error) { return strconv.ParseUint(string(f[n-3]), 10, 64) }
	st := stat{pid: pid, state: f[0][0]}
	var errs [4]error
	var ppid, pgrp, sid uint64
	ppid, errs[0] = field(4)
	pgrp, errs[1] = field(5)
	sid, errs[2] = field(6)
	st.start, errs[3] = field(22)
	for _, err := range errs {
		if err != nil {
			return stat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
	}
	st.ppid, st.pgrp, st.sid = int(ppid), int(pgrp), int(sid)
	return st, nil
}

// processes reads the stat of every process in /proc that keep accepts.
func processes(keep func(stat) bool) ([]stat, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []stat
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		if keep(st) {
			out = append(out, st)
		}
	}
	return out, nil
}
