package haproxy

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
)

// TestLiveStopLeavesNoProcess: the stop signal ends master and worker
// promptly, even with a request in flight that the backend never answers
// (a soft stop would wait for it up to the server timeout), and right
// after start.
func TestLiveStopLeavesNoProcess(t *testing.T) {
	t.Run("in-flight", func(t *testing.T) {
		hole := startBlackHole(t)
		p := startHAProxy(t, hole.Addr(), proxies.Spec{Retry: proxies.RetryOff, ResponseTimeout: 30 * time.Second})
		c := dialRaw(t, p.Addr())
		done := make(chan clientResult, 1)
		go func() { done <- c.Do("GET", "in-flight", false) }()
		select {
		case <-hole.got:
		case <-time.After(5 * time.Second):
			t.Fatal("the request never reached the backend")
		}
		stopAndCheck(t, p)
		r := <-done // the client's 10s deadline bounds this
		assert.Equal(t, 0, r.Status, "the in-flight request got no answer")
	})
	t.Run("at-once", func(t *testing.T) {
		hole := startBlackHole(t)
		stopAndCheck(t, startHAProxy(t, hole.Addr(), proxies.Spec{Retry: proxies.RetryOff}))
	})
}

// stopAndCheck stops p and checks that neither the master nor its worker
// runs any more, and that the stop signal sufficed.
//
// A process that has exited but is not yet reaped (a zombie) counts as
// gone: HAProxy 2.6's master has no SIGTERM handler for a short while
// after the worker is ready (tens of milliseconds, more on a busy
// machine), so a stop in that window kills the master by the signal's
// default action; the worker, signalled with the whole process group,
// exits too, but as an orphan that init reaps a little later.
func stopAndCheck(t *testing.T, p *process.Proxy) {
	t.Helper()
	master := p.PID()
	workers := childrenOf(t, master)
	require.NotEmpty(t, workers, "master-worker mode forks a worker")
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, p.Stop(ctx))
	took := time.Since(start)
	assert.Less(t, took, process.DefaultStopTimeout, "the stop signal sufficed, no SIGKILL")
	for _, pid := range append([]int{master}, workers...) {
		// An orphaned worker signalled with the group may still be
		// running its exit on a busy machine: give it a bounded moment.
		deadline := time.Now().Add(2 * time.Second)
		for {
			err := syscall.Kill(pid, 0)
			if errors.Is(err, syscall.ESRCH) {
				break
			}
			state, _, ok := procStat(pid)
			if ok && state == "Z" {
				break
			}
			if pid == master || time.Now().After(deadline) {
				assert.Fail(t, "process still runs", "pid %d (kill: %v, state %q)", pid, err, state)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	select {
	case <-p.Exited():
	default:
		t.Error("Exited not closed after Stop")
	}
}

// blackHole accepts connections, reads requests and never answers.
type blackHole struct {
	ln  net.Listener
	got chan struct{} // receives once per connection that sent bytes
}

func startBlackHole(t *testing.T) *blackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := &blackHole{ln: ln, got: make(chan struct{}, 16)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 4096)
				if n, _ := c.Read(buf); n > 0 {
					h.got <- struct{}{}
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return h
}

func (h *blackHole) Addr() string { return h.ln.Addr().String() }

// childrenOf lists the processes whose parent is pid, from /proc.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	var out []int
	for _, path := range stats {
		child, err := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err != nil {
			continue
		}
		if _, ppid, ok := procStat(child); ok && ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// procStat reads a process's state letter and parent pid from
// /proc/<pid>/stat; ok is false when the process is gone.
func procStat(pid int) (state string, ppid int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces, so cut at ")".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return "", 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0], ppid, err == nil
}
