package process

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// sysProcAttr puts the proxy in a process group of its own and asks the
// kernel to send it SIGTERM when racelab dies: nginx, HAProxy (master-
// worker) and Envoy all stop their workers and exit on SIGTERM, even when
// racelab was killed with SIGKILL. The owner package's keeper kills the
// whole group as well, for a master that cannot pass the signal on.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// The parent-death signal fires when the thread that forked the child
// exits, not the process: Go ends a thread when a goroutine locked to it
// returns, so a proxy forked from such a goroutine would get SIGTERM long
// before racelab exits. Every proxy is therefore forked from one
// goroutine locked to its thread for the life of the process.
var spawner struct {
	once sync.Once
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan<- error
}

// spawn starts cmd from the spawner's thread.
func spawn(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread never ends
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.reqs <- spawnRequest{cmd, done}
	return <-done
}
