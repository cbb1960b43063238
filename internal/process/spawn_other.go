//go:build !linux

package process

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts the proxy in a process group of its own. There is no
// parent-death signal here.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// spawn starts cmd.
func spawn(cmd *exec.Cmd) error { return cmd.Start() }
