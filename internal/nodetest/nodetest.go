// Package nodetest starts a real Node.js HTTP server on loopback for
// tests that measure what Node.js does with its keep-alive settings.
package nodetest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// script answers every request with "ok" and sets keepAliveTimeout (and
// headersTimeout when given) from its arguments; it prints the port it
// listens on.
const script = `const http = require("http");
const server = http.createServer((req, res) => { res.end("ok\n"); });
server.keepAliveTimeout = Number(process.argv[2]);
if (process.argv[3]) server.headersTimeout = Number(process.argv[3]);
server.listen(0, "127.0.0.1", () => { console.log("listening " + server.address().port); });
`

// Server is a running Node.js server.
type Server struct {
	// URL is http://127.0.0.1:PORT/.
	URL     string
	Version string
	cmd     *exec.Cmd
}

// Start starts node with server.keepAliveTimeout = keepAliveMS (and
// server.headersTimeout = headersMS unless 0) and stops it, by its
// process group id, when the test ends. Without node on PATH it skips
// the test, saying what to install, or fails it when CI is set.
func Start(t testing.TB, keepAliveMS, headersMS int) *Server {
	t.Helper()
	bin, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") != "" {
			// CI machines ship Node.js 20: a skip there would hide a gap.
			t.Fatalf("node must be on PATH in CI (Debian package nodejs): %v", err)
		}
		t.Skip("node is not on PATH: install Node.js (Debian package nodejs) to run this test")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "server.js")
	if err := os.WriteFile(path, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{path, strconv.Itoa(keepAliveMS)}
	if headersMS > 0 {
		args = append(args, strconv.Itoa(headersMS))
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	s := &Server{cmd: cmd}
	t.Cleanup(s.stop)
	port, err := readPort(out, 10*time.Second)
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	s.URL = "http://127.0.0.1:" + port + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if v, err := exec.CommandContext(ctx, bin, "--version").Output(); err == nil {
		s.Version = strings.TrimSpace(string(v))
	}
	return s
}

// readPort reads the "listening PORT" line, bounded in time.
func readPort(out interface{ Read([]byte) (int, error) }, timeout time.Duration) (string, error) {
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			ch <- line{s: sc.Text()}
			for sc.Scan() { // keep the pipe drained
			}
			return
		}
		ch <- line{err: errors.Join(errors.New("node exited before listening"), sc.Err())}
	}()
	select {
	case l := <-ch:
		if l.err != nil {
			return "", l.err
		}
		port, ok := strings.CutPrefix(l.s, "listening ")
		if !ok {
			return "", fmt.Errorf("unexpected first line %q", l.s)
		}
		return port, nil
	case <-time.After(timeout):
		return "", fmt.Errorf("no port printed within %s", timeout)
	}
}

// stop kills the node process group by its id and reaps it.
func (s *Server) stop() {
	if s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
}
