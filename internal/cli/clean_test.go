package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/internal/owner"
	"github.com/racelab/racelab/proxies"
)

// envChildArgs makes the test binary run racelab (Main) with these
// arguments, JSON-encoded: a real racelab process to kill.
const envChildArgs = "RACELAB_CLI_TEST_CHILD_ARGS"

// TestRacelabChild is racelab itself, run by startRacelab.
func TestRacelabChild(t *testing.T) {
	raw := os.Getenv(envChildArgs)
	if raw == "" {
		t.Skip("racelab child process of the kill tests")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	os.Exit(Main(args, os.Getenv, os.Stdout, os.Stderr))
}

// startRacelab runs racelab with args in a child process whose temporary
// directory is tmp.
func startRacelab(t *testing.T, tmp string, args ...string) *exec.Cmd {
	t.Helper()
	data, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRacelabChild$")
	cmd.Env = append(os.Environ(), envChildArgs+"="+string(data), "TMPDIR="+tmp,
		"GORACE=atexit_sleep_ms=0") // its keeper exits at once
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("racelab %s:\n%s", strings.Join(args, " "), out.String())
		}
	})
	return cmd
}

// cleanIn runs racelab clean with args in a child process whose
// temporary directory is tmp, and returns its exit code and output.
func cleanIn(t *testing.T, tmp string, args ...string) (int, string, string) {
	t.Helper()
	return racelabChild(t, time.Minute, []string{"TMPDIR=" + tmp}, append([]string{"clean"}, args...)...)
}

// racelabChild runs racelab with args in a child process with env added
// to this process's environment (a later entry wins), so a parallel test
// can change what racelab sees, and returns its exit code and output.
func racelabChild(t *testing.T, limit time.Duration, env []string, args ...string) (int, string, string) {
	t.Helper()
	data, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRacelabChild$")
	cmd.Env = append(append(os.Environ(), envChildArgs+"="+string(data)), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// procStat reads a process's parent, session and state from
// /proc/PID/stat; ok is false when there is no such process.
func procStat(pid int) (ppid, sid int, state byte, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, false
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	ppid, _ = strconv.Atoi(f[1])
	sid, _ = strconv.Atoi(f[3])
	return ppid, sid, f[0][0], true
}

// descendants lists the living processes below pid, by their parent
// links in /proc.
func descendants(pid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, _, state, ok := procStat(p); ok && state != 'Z' {
			parent[p] = pp
		}
	}
	var out []int
	for p := range parent {
		for a := parent[p]; a > 1; a = parent[a] {
			if a == pid {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// running reports a process that exists and is not a zombie.
func running(pid int) bool {
	_, _, state, ok := procStat(pid)
	return ok && state != 'Z'
}

// keeperOf finds the keeper a racelab process started: its child that
// leads a session of its own.
func keeperOf(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, sid, _, ok := procStat(child); ok && ppid == pid && sid == child {
			return child
		}
	}
	t.Fatalf("racelab pid %d has no keeper", pid)
	return 0
}

// runGroups waits until racelab pid has a proxy with a worker (a group
// of two processes or more) on the process runtime, and returns the
// process groups its owner marks in tmp record.
func runGroups(t *testing.T, tmp string, pid, minProcs int) []owner.Group {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var groups []owner.Group
		worker := false
		dirs, _ := filepath.Glob(filepath.Join(tmp, owner.DirPrefix+"*"))
		for _, d := range dirs {
			m, err := owner.ReadDirMark(d)
			if err != nil || m.Owner.PID != pid {
				continue
			}
			for _, g := range m.Groups {
				groups = append(groups, g)
				if ps, _ := g.Processes(); len(ps) >= minProcs {
					worker = true
				}
			}
		}
		if worker {
			return groups
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("racelab pid %d started no proxy of %d processes within 60s", pid, minProcs)
	return nil
}

// runContainers lists the containers racelab pid owns.
func runContainers(t *testing.T, pid int) []container.Summary {
	t.Helper()
	all, err := container.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var out []container.Summary
	for _, c := range all {
		if c.Owner.PID == pid {
			out = append(out, c)
		}
	}
	return out
}

// awaitContainer waits until racelab pid has a running container whose
// proxy has a worker, and returns the host PIDs of the processes of its
// containers: those whose cgroup names a container's id.
func awaitContainer(t *testing.T, pid int) []int {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		var ids []string
		for _, c := range runContainers(t, pid) {
			ids = append(ids, c.ID)
		}
		byID := containerProcesses(t, ids)
		for _, ps := range byID {
			if len(ps) >= 3 { // init, master, worker
				var all []int
				for _, ps := range byID {
					all = append(all, ps...)
				}
				return all
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("racelab pid %d started no proxy container with a worker within 90s", pid)
	return nil
}

// containerProcesses maps each container id to the host processes in its
// cgroup.
func containerProcesses(t *testing.T, ids []string) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	if len(ids) == 0 {
		return out
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cg, err := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		if err != nil {
			continue
		}
		for _, id := range ids {
			if strings.Contains(string(cg), id) {
				out[id] = append(out[id], p)
			}
		}
	}
	return out
}

// racelabDirs lists the racelab-* directories in tmp.
func racelabDirs(tmp string) []string {
	dirs, _ := filepath.Glob(filepath.Join(tmp, owner.DirPrefix+"*"))
	return dirs
}

// After kill -9 of a racelab run, within 2s no proxy process of the run
// is left (counted by the process groups and containers its owner marks
// name, never by name), and racelab clean leaves no temp dir or
// container of it. A live run's things are never swept; with its keeper
// killed too, what is left waits for the sweep, which --dry-run lists
// without removing.
func TestKillNineLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name       string
		kind       proxies.Kind
		container  bool
		killKeeper bool
		// single: the proxy runs as one process (else a master and a
		// worker at least).
		single bool
	}{
		{name: "nginx", kind: proxies.KindNginx},
		{name: "haproxy", kind: proxies.KindHAProxy},
		{name: "caddy", kind: proxies.KindCaddy, single: true},
		{name: "apache", kind: proxies.KindApache},
		{name: "varnish", kind: proxies.KindVarnish}, // varnishd, its child and varnishncsa
		{name: "squid", kind: proxies.KindSquid, single: true},
		{name: "nginx-no-keeper", kind: proxies.KindNginx, killKeeper: true},
		{name: "container", kind: proxies.KindNginx, container: true},
		{name: "container-no-keeper", kind: proxies.KindNginx, container: true, killKeeper: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Every clean sweeps every gone owner's containers on the
			// engine: the case that leaves containers for the sweep runs
			// before the others, alone.
			if !tc.container || !tc.killKeeper {
				t.Parallel()
			}
			if tc.container {
				requireEngine(t, "bookworm")
			} else {
				requireProxy(t, tc.kind)
			}
			tmp := t.TempDir()
			args := []string{"run", "margin-sweep", "--proxy", string(tc.kind), "--trials", "200", "--quiet", "-o", filepath.Join(tmp, "out.jsonl")}
			if tc.container {
				args = append(args, "--runtime", "container")
			}
			cmd := startRacelab(t, tmp, args...)
			pid := cmd.Process.Pid

			var groups []owner.Group
			var procs []int
			if tc.container {
				procs = awaitContainer(t, pid)
			} else {
				minProcs := 2
				if tc.single {
					minProcs = 1
				}
				groups = runGroups(t, tmp, pid, minProcs)
				for _, g := range groups {
					ps, _ := g.Processes()
					procs = append(procs, ps...)
				}
				// And whatever the proxies started outside their process
				// groups (a helper in a session of its own, as Squid's
				// pinger was): every descendant of racelab but the keeper,
				// which is checked on its own below.
				keeper := keeperOf(t, pid)
				for _, d := range descendants(pid) {
					if d != keeper && !slices.Contains(procs, d) {
						procs = append(procs, d)
					}
				}
			}
			dirs := racelabDirs(tmp)

			// Its owner lives: clean removes nothing.
			if code, out, errOut := cleanIn(t, tmp); code != ExitOK || strings.Contains(out, strconv.Itoa(pid)) {
				t.Fatalf("clean while racelab runs: exit %d\n%s%s", code, out, errOut)
			}
			for _, d := range dirs {
				if _, err := os.Stat(d); err != nil {
					t.Errorf("clean removed %s of a live racelab", d)
				}
			}
			if tc.container && len(runContainers(t, pid)) == 0 {
				t.Error("clean removed a live racelab's containers")
			}

			keeper := keeperOf(t, pid)
			if tc.killKeeper {
				if err := syscall.Kill(keeper, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
			killed := time.Now()
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}

			// Within 2s, no process of the run is left.
			for {
				var left []string
				if !tc.container || !tc.killKeeper { // containers have no parent-death signal
					for _, p := range procs {
						if running(p) {
							left = append(left, "pid "+strconv.Itoa(p))
						}
					}
				}
				if len(left) == 0 {
					break
				}
				if time.Since(killed) > 2*time.Second {
					t.Fatalf("2s after kill -9 of racelab, its proxies still run: %s", strings.Join(left, ", "))
				}
				time.Sleep(5 * time.Millisecond)
			}
			if !tc.container || !tc.killKeeper {
				t.Logf("kill -9 to last proxy process gone: %s (%d processes)", time.Since(killed).Round(time.Millisecond), len(procs))
			}
			_ = cmd.Wait() // reaped: its owner marks are of a gone owner now

			if !tc.killKeeper {
				// The keeper removes the rest and exits.
				for running(keeper) {
					if time.Since(killed) > 10*time.Second {
						t.Fatal("keeper still running 10s after racelab was killed")
					}
					time.Sleep(5 * time.Millisecond)
				}
				t.Logf("kill -9 to keeper done: %s", time.Since(killed).Round(time.Millisecond))
				if left := racelabDirs(tmp); len(left) > 0 {
					t.Errorf("the keeper left temp dirs: %v", left)
				}
				if left := runContainers(t, pid); len(left) > 0 {
					t.Errorf("the keeper left containers: %v", left)
				}
			}

			if tc.killKeeper {
				// Left for the sweep: --dry-run lists it and removes nothing.
				code, out, errOut := cleanIn(t, tmp, "--dry-run")
				if code != ExitOK {
					t.Fatalf("clean --dry-run: exit %d\n%s%s", code, out, errOut)
				}
				var want []string
				if tc.container {
					for _, c := range runContainers(t, pid) {
						want = append(want, "container "+c.ID[:12])
					}
				} else {
					for _, d := range dirs {
						want = append(want, "temp dir "+d+" ")
					}
				}
				if len(want) == 0 {
					t.Fatal("nothing left for the sweep to find")
				}
				for _, w := range want {
					if !strings.Contains(out, "would remove "+w) {
						t.Errorf("clean --dry-run does not list %q:\n%s", w, out)
					}
				}
				if tc.container && len(runContainers(t, pid)) != len(want) {
					t.Error("clean --dry-run removed containers")
				}
				for _, d := range dirs {
					if _, err := os.Stat(d); err != nil {
						t.Errorf("clean --dry-run removed %s", d)
					}
				}
			}

			code, out, errOut := cleanIn(t, tmp)
			if code != ExitOK {
				t.Fatalf("clean: exit %d\n%s%s", code, out, errOut)
			}
			t.Logf("clean:\n%s", out)
			if left := racelabDirs(tmp); len(left) > 0 {
				t.Errorf("temp dirs left after clean: %v", left)
			}
			if left := runContainers(t, pid); len(left) > 0 {
				t.Errorf("containers left after clean: %v", left)
			}
			for _, p := range procs {
				if running(p) {
					t.Errorf("pid %d of the killed run still runs after clean", p)
				}
			}
		})
	}
}

func TestCleanUsage(t *testing.T) {
	if code, _, errOut := runCLI(t, "clean", "extra"); code != ExitUsage || !strings.Contains(errOut, "clean takes no arguments") {
		t.Errorf("clean extra: exit %d, stderr %q; want 2 and the reason", code, errOut)
	}
	// The engine may hold other gone owners' containers: only listed.
	if code, out, errOut := cleanIn(t, t.TempDir(), "--dry-run"); code != ExitOK || strings.Contains(out, "temp dir") || strings.Contains(out, "removed ") {
		t.Errorf("clean --dry-run with nothing left here: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
