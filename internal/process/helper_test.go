package process

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/racelab/racelab/proxies"
)

// The test binary doubles as a fake proxy: run with helperArg as its first
// argument, it behaves as the mode in the second argument says.
const helperArg = "racelab-helper"

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == helperArg {
		os.Exit(runHelper(os.Args[2], os.Args[3:]))
	}
	os.Exit(m.Run())
}

// fakeAdapter renders a one-line config for the helper process.
type fakeAdapter struct {
	mode string
}

func (fakeAdapter) Kind() proxies.Kind    { return "fake" }
func (fakeAdapter) Binary() string        { return "racelab-fake-proxy-not-installed" }
func (fakeAdapter) VersionArgs() []string { return []string{helperArg, "version"} }
func (fakeAdapter) StopSignal() os.Signal { return syscall.SIGTERM }
func (fakeAdapter) Image(v string) string { return "fake:" + v }
func (a fakeAdapter) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if spec.Upstream == "bad" {
		return nil, errors.New("render fake: bad upstream")
	}
	conf := filepath.Join(dir, "fake.conf")
	return &proxies.Bundle{
		Dir:          dir,
		Files:        map[string]string{"fake.conf": "listen " + spec.Listen + "\nreuse " + spec.Reuse + "\n"},
		Dirs:         []string{"tmp/a", "tmp/b"},
		Args:         []string{helperArg, a.mode, conf},
		ValidateArgs: []string{helperArg, "check", conf},
	}, nil
}

func (fakeAdapter) ParseVersion(out string) (string, error) {
	v, ok := strings.CutPrefix(strings.TrimSpace(out), "fake version ")
	if !ok {
		return "", fmt.Errorf("no version in %q", out)
	}
	return v, nil
}

func (fakeAdapter) ParseLog(line string) (proxies.Evidence, bool) {
	if id, ok := strings.CutPrefix(line, "access id="); ok {
		return proxies.Evidence{Source: "access", RequestID: id}, true
	}
	if pid, ok := strings.CutPrefix(line, "child "); ok {
		return proxies.Evidence{Source: "error", RequestID: "child", Message: pid}, true
	}
	if msg, ok := strings.CutPrefix(line, "[emerg] "); ok {
		return proxies.Evidence{Source: "error", Message: msg}, true
	}
	return proxies.Evidence{}, false
}

// runHelper is the fake proxy's main.
func runHelper(mode string, args []string) int {
	switch mode {
	case "version":
		fmt.Println("fake version 9.9.9")
		return 0
	case "child":
		signal.Ignore(syscall.SIGTERM)
		select {}
	case "exit":
		fmt.Fprintln(os.Stderr, "[emerg] cannot start: boom")
		return 1
	case "hang":
		fmt.Fprintln(os.Stderr, "hanging")
		select {}
	}
	conf, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	listen, reuse := "", ""
	for _, line := range strings.Split(string(conf), "\n") {
		if v, ok := strings.CutPrefix(line, "listen "); ok {
			listen = v
		}
		if v, ok := strings.CutPrefix(line, "reuse "); ok {
			reuse = v
		}
	}
	if mode == "check" {
		if reuse == "safe" {
			fmt.Fprintln(os.Stderr, "check: bad config")
			return 1
		}
		fmt.Println("check: ok", filepath.Dir(args[0]))
		return 0
	}

	// serve and ignore-term: leave a child in the process group, the way
	// an nginx master leaves its worker.
	child := exec.Command(os.Args[0], helperArg, "child")
	if err := child.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("child", child.Process.Pid)
	sigs := make(chan os.Signal, 1)
	if mode == "ignore-term" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGTERM)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "[emerg]", err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "listening on", ln.Addr())
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "term")
		os.Exit(0) // the child stays behind
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return 2
		}
		go serveHelperConn(c)
	}
}

func serveHelperConn(c net.Conn) {
	defer c.Close()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		switch line := sc.Text(); line {
		case "die":
			fmt.Fprintln(os.Stderr, "dying")
			os.Exit(3)
		case "long":
			fmt.Println(strings.Repeat("x", 3*maxLineBytes))
			fmt.Println("access id=after-long")
		default:
			fmt.Println("access id=" + line)
		}
		fmt.Fprintln(c, "ok")
	}
}

// helperBinary is the test binary itself.
func helperBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("executable: %v", err)
	}
	return exe
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return addr
}

// waitGone waits up to d for pid to stop running: a SIGKILL is delivered
// asynchronously, so a process killed a moment ago may still be exiting.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !processGone(pid) {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// processGone reports whether pid no longer runs: no such process, or a
// zombie that nothing has reaped yet.
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}
