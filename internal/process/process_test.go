package process

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/envoy"
)

func startFake(t *testing.T, mode string, opts ...Option) (*Proxy, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	spec := proxies.Spec{Kind: "fake", Listen: freeAddr(t), Upstream: "127.0.0.1:9", Retry: proxies.RetryOff}
	opts = append([]Option{WithBinary(helperBinary(t))}, opts...)
	p, err := Start(ctx, fakeAdapter{mode: mode}, spec, opts...)
	t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p, err
}

// send writes one line to the proxy and reads its answer.
func send(t *testing.T, addr, line string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Write([]byte(line + "\n"))
	require.NoError(t, err)
	if line == "die" {
		return
	}
	answer, err := bufio.NewReader(c).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ok\n", answer)
}

// childPID reads the pid the fake proxy's child announced.
func childPID(t *testing.T, p *Proxy) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := p.Evidence().Wait(ctx, "child", "")
	require.NoError(t, err)
	pid, err := strconv.Atoi(evs[0].Message)
	require.NoError(t, err)
	return pid
}

func TestStartStop(t *testing.T) {
	p, err := startFake(t, "serve")
	require.NoError(t, err)

	require.Equal(t, "9.9.9", p.Version())
	require.NotZero(t, p.PID())
	info := p.Info()
	require.Equal(t, helperBinary(t), info["binary"])
	require.Equal(t, strconv.Itoa(p.PID()), info["pid"])
	require.Equal(t, p.Dir(), info["dir"])
	require.Equal(t, "9.9.9", info["version"])

	fi, err := os.Stat(p.Dir())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), "bundle dir mode")
	fi, err = os.Stat(filepath.Join(p.Dir(), "fake.conf"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "bundle file mode")
	fi, err = os.Stat(filepath.Join(p.Dir(), "tmp", "b"))
	require.NoError(t, err)
	require.True(t, fi.IsDir())

	pgid, err := syscall.Getpgid(p.PID())
	require.NoError(t, err)
	require.Equal(t, p.PID(), pgid, "the proxy leads its own process group")
	child := childPID(t, p)
	require.False(t, processGone(child), "child %d runs before Stop", child)

	send(t, p.Addr(), "req-1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := p.Evidence().Wait(ctx, "req-1", "access")
	require.NoError(t, err)
	require.Equal(t, "access id=req-1", evs[0].Raw, "Raw defaults to the line")
	require.Contains(t, p.Logs(), "access id=req-1")

	require.NoError(t, p.Stop(context.Background()))
	select {
	case <-p.Exited():
	default:
		t.Fatal("Exited not closed after Stop")
	}
	require.ErrorIs(t, syscall.Kill(p.PID(), 0), syscall.ESRCH, "proxy pid after Stop")
	require.True(t, waitGone(child, 2*time.Second), "child %d left behind in the group for 2s", child)
	_, err = os.Stat(p.Dir())
	require.ErrorIs(t, err, os.ErrNotExist, "dir removed")
	require.NoError(t, p.Stop(context.Background()), "second Stop")
}

func TestStopConcurrent(t *testing.T) {
	p, err := startFake(t, "serve")
	require.NoError(t, err)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = p.Stop(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "Stop call %d", i)
	}
	require.ErrorIs(t, syscall.Kill(p.PID(), 0), syscall.ESRCH)
}

func TestStopEscalatesToKill(t *testing.T) {
	const grace = 200 * time.Millisecond
	p, err := startFake(t, "ignore-term", WithStopTimeout(grace))
	require.NoError(t, err)
	child := childPID(t, p)

	start := time.Now()
	require.NoError(t, p.Stop(context.Background()), "a proxy killed by Stop is no error")
	took := time.Since(start)
	// It must have waited the grace period, and finished well within the
	// kill wait (5s tolerance for a busy machine).
	require.GreaterOrEqual(t, took, grace)
	require.Less(t, took, grace+5*time.Second)
	require.ErrorIs(t, syscall.Kill(p.PID(), 0), syscall.ESRCH)
	require.True(t, waitGone(child, 2*time.Second), "child %d still runs 2s after Stop", child)
}

func TestStopCancelledContextKills(t *testing.T) {
	p, err := startFake(t, "ignore-term", WithStopTimeout(time.Minute))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	require.NoError(t, p.Stop(ctx))
	require.Less(t, time.Since(start), 5*time.Second, "a done ctx skips the grace period")
	require.ErrorIs(t, syscall.Kill(p.PID(), 0), syscall.ESRCH)
}

func TestStartExitedEarly(t *testing.T) {
	p, err := startFake(t, "exit")
	require.Error(t, err)
	require.NotNil(t, p, "partial proxy returned beside the error")
	msg := err.Error()
	for _, want := range []string{"start fake: exited", "exit status 1", "[emerg] cannot start: boom"} {
		require.Contains(t, msg, want)
	}
	require.NotZero(t, p.PID())
	require.ErrorIs(t, syscall.Kill(p.PID(), 0), syscall.ESRCH)
	_, statErr := os.Stat(p.Dir())
	require.ErrorIs(t, statErr, os.ErrNotExist, "Start removes its dir on error")
	require.NoError(t, p.Stop(context.Background()), "Stop after a failed Start")

	evs := p.Evidence().Orphans()
	require.Len(t, evs, 1)
	require.Equal(t, "cannot start: boom", evs[0].Message)
}

func TestStartTimeout(t *testing.T) {
	// The helper must print before the timeout for the error to quote it:
	// a race-instrumented test binary takes 0.25 to 1 s to start on a
	// loaded 2-core machine (300 ms failed there), so the timeout leaves
	// it room.
	const timeout = 2 * time.Second
	start := time.Now()
	p, err := startFake(t, "hang", WithStartTimeout(timeout))
	took := time.Since(start)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "not accepting connections on "+p.Addr())
	require.Contains(t, err.Error(), "hanging", "error quotes the output")
	require.GreaterOrEqual(t, took, timeout)
	require.Less(t, took, timeout+5*time.Second)
	require.ErrorIs(t, syscall.Kill(p.PID(), 0), syscall.ESRCH, "Start kills what it started")
}

func TestStartCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	spec := proxies.Spec{Kind: "fake", Listen: freeAddr(t), Upstream: "127.0.0.1:9", Retry: proxies.RetryOff}
	p, err := Start(ctx, fakeAdapter{mode: "serve"}, spec, WithBinary(helperBinary(t)))
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, p.PID(), "nothing started")
	require.NoError(t, p.Stop(context.Background()))
}

func TestStartAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	spec := proxies.Spec{Kind: "fake", Listen: ln.Addr().String(), Upstream: "127.0.0.1:9", Retry: proxies.RetryOff}
	p, err := Start(context.Background(), fakeAdapter{mode: "serve"}, spec, WithBinary(helperBinary(t)))
	require.Error(t, err)
	require.Contains(t, err.Error(), "start fake: listen address "+ln.Addr().String()+" is not free")
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	require.Zero(t, p.PID(), "nothing started")
	require.NoError(t, p.Stop(context.Background()))
}

func TestStartRenderError(t *testing.T) {
	spec := proxies.Spec{Kind: "fake", Listen: freeAddr(t), Upstream: "bad", Retry: proxies.RetryOff}
	p, err := Start(context.Background(), fakeAdapter{mode: "serve"}, spec, WithBinary(helperBinary(t)))
	require.EqualError(t, err, "start fake: render fake: bad upstream")
	require.Zero(t, p.PID())
	require.NotEmpty(t, p.Dir())
	_, statErr := os.Stat(p.Dir())
	require.ErrorIs(t, statErr, os.ErrNotExist, "dir removed")
}

func TestStartMissingBinary(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	spec := proxies.Spec{Kind: "fake", Listen: freeAddr(t), Upstream: "127.0.0.1:9", Retry: proxies.RetryOff}
	p, err := Start(context.Background(), fakeAdapter{mode: "serve"}, spec)
	require.ErrorIs(t, err, exec.ErrNotFound)
	require.NoError(t, p.Stop(context.Background()))
}

func TestUnexpectedExitIsReported(t *testing.T) {
	p, err := startFake(t, "serve")
	require.NoError(t, err)
	child := childPID(t, p)
	send(t, p.Addr(), "die")
	select {
	case <-p.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("Exited not closed 5s after the proxy died")
	}
	// The child the dead proxy left behind is swept at once, not at Stop.
	require.True(t, waitGone(child, 2*time.Second), "child %d outlived its parent by 2s", child)
	err = p.Stop(context.Background())
	require.Error(t, err)
	require.Contains(t, err.Error(), "stop fake: exited before stop: exited: exit status 3")
	require.Contains(t, err.Error(), "dying")
}

func TestLongLinesAreCutAndDrained(t *testing.T) {
	p, err := startFake(t, "serve")
	require.NoError(t, err)
	send(t, p.Addr(), "long")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = p.Evidence().Wait(ctx, "after-long", "access")
	require.NoError(t, err, "the line after a long one arrives intact")
	var longest int
	for _, l := range p.Logs() {
		longest = max(longest, len(l))
	}
	require.Equal(t, maxLineBytes, longest)
}

func TestKeep(t *testing.T) {
	p, err := startFake(t, "serve", WithKeep(true))
	require.NoError(t, err)
	require.NoError(t, p.Stop(context.Background()))
	t.Cleanup(func() { os.RemoveAll(p.Dir()) })
	_, err = os.Stat(filepath.Join(p.Dir(), "fake.conf"))
	require.NoError(t, err, "kept dir still holds the bundle")
}

func TestLogger(t *testing.T) {
	var buf syncBuffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := startFake(t, "serve", WithLogger(l))
	require.NoError(t, err)
	send(t, p.Addr(), "logged")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = p.Evidence().Wait(ctx, "logged", "access")
	require.NoError(t, err)
	require.NoError(t, p.Stop(context.Background()))
	out := buf.String()
	require.Contains(t, out, "msg=\"proxy started\"")
	require.Contains(t, out, "line=\"access id=logged\"")
}

func TestNilAndZeroProxy(t *testing.T) {
	var p *Proxy
	require.NoError(t, p.Stop(context.Background()))
	require.Zero(t, p.PID())
	require.Empty(t, p.Addr())
	<-p.Exited()
	z := &Proxy{}
	require.NoError(t, z.Stop(context.Background()))
	<-z.Exited()
}

func TestValidate(t *testing.T) {
	spec := proxies.Spec{Kind: "fake", Listen: "127.0.0.1:1", Upstream: "127.0.0.1:9", Retry: proxies.RetryOff}
	out, err := Validate(context.Background(), fakeAdapter{}, spec, WithBinary(helperBinary(t)))
	require.NoError(t, err)
	dir, ok := strings.CutPrefix(strings.TrimSpace(out), "check: ok ")
	require.True(t, ok, "output %q", out)
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist, "validate dir %s removed", dir)

	spec.Reuse = "safe" // the fake rejects it
	out, err = Validate(context.Background(), fakeAdapter{}, spec, WithBinary(helperBinary(t)))
	require.Error(t, err)
	require.Contains(t, out, "check: bad config")
	require.Contains(t, err.Error(), "validate fake: exit status 1: check: bad config")
}

func TestLookPath(t *testing.T) {
	p, err := LookPath(binaryAdapter("sh"))
	require.NoError(t, err)
	require.True(t, filepath.IsAbs(p), "absolute path, got %q", p)

	_, err = LookPath(binaryAdapter("racelab-no-such-binary"))
	require.ErrorIs(t, err, exec.ErrNotFound)
	require.Contains(t, err.Error(), "/usr/sbin")

	// Debian packages nginx and HAProxy into /usr/sbin, not Envoy.
	t.Setenv("PATH", t.TempDir())
	_, err = LookPath(envoy.Adapter{})
	require.ErrorIs(t, err, exec.ErrNotFound)
	require.Contains(t, err.Error(), "Debian does not package Envoy")
	require.NotContains(t, err.Error(), "/usr/sbin")

	// Only PATH counts: with a PATH that lacks it, sh is not found.
	_, err = LookPath(binaryAdapter("sh"))
	require.ErrorIs(t, err, exec.ErrNotFound)
}

type binaryAdapter string

func (b binaryAdapter) Binary() string { return string(b) }
func (binaryAdapter) Kind() proxies.Kind {
	return "fake"
}
func (binaryAdapter) Render(proxies.Spec, string) (*proxies.Bundle, error) {
	return nil, errors.New("not rendered")
}
func (binaryAdapter) VersionArgs() []string                    { return nil }
func (binaryAdapter) ParseVersion(string) (string, error)      { return "", nil }
func (binaryAdapter) ParseLog(string) (proxies.Evidence, bool) { return proxies.Evidence{}, false }
func (binaryAdapter) StopSignal() os.Signal                    { return syscall.SIGTERM }
func (binaryAdapter) Image(string) string                      { return "" }

func TestWriteBundleStaysInside(t *testing.T) {
	dir := t.TempDir()
	for _, b := range []*proxies.Bundle{
		{Dir: dir, Files: map[string]string{"../escape": "x"}},
		{Dir: dir, Files: map[string]string{"/etc/escape": "x"}},
		{Dir: dir, Dirs: []string{"../up"}},
		{Dir: "/elsewhere", Files: map[string]string{"a": "x"}},
		nil,
	} {
		require.Error(t, writeBundle(dir, b), "bundle %+v", b)
	}
	require.NoError(t, writeBundle(dir, &proxies.Bundle{Dir: dir, Files: map[string]string{"sub/a.conf": "x"}}))
	got, err := os.ReadFile(filepath.Join(dir, "sub", "a.conf"))
	require.NoError(t, err)
	require.Equal(t, "x", string(got))
}

func TestReadLines(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		max  int
		want []string
	}{
		{"plain", "a\nb\n", 10, []string{"a", "b"}},
		{"crlf", "a\r\nb\r\n", 10, []string{"a", "b"}},
		{"no final newline", "a\nb", 10, []string{"a", "b"}},
		{"empty lines", "\n\na\n", 10, []string{"", "", "a"}},
		{"cut", "abcdefgh\nxy\n", 4, []string{"abcd", "xy"}},
		{"cut beyond reader buffer", strings.Repeat("z", 10000) + "\nend\n", 5000, []string{strings.Repeat("z", 5000), "end"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			readLines(strings.NewReader(tc.in), tc.max, func(l string) { got = append(got, l) })
			require.Equal(t, tc.want, got)
		})
	}
}

func TestTail(t *testing.T) {
	tl := newTail(3)
	for i := range 10 {
		tl.add(strconv.Itoa(i))
	}
	require.Equal(t, []string{"7", "8", "9"}, tl.last(0))
	require.Equal(t, []string{"8", "9"}, tl.last(2))
	require.Equal(t, "8 | 9", tl.summary(2))
	require.Equal(t, "no output", newTail(3).summary(5))
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
