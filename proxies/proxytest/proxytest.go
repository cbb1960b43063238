// Package proxytest holds what the adapters' live tests share: a free
// loopback address, racelab's backend with a recorder, a client that sends
// racelab's requests on one persistent connection, and the processes of a
// process group. Every address is on 127.0.0.1.
package proxytest

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// FreeAddr returns a loopback address nobody listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// Backend starts racelab's backend with fault and a recorder of its
// events; the test's cleanup closes it.
func Backend(t testing.TB, fault backends.FaultKind) (*backends.Server, *backends.Recorder) {
	t.Helper()
	rec := backends.NewRecorder()
	srv, err := backends.Start(context.Background(), backends.Config{Fault: backends.Fault{Kind: fault}},
		backends.WithObserver(rec.Observe))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	return srv, rec
}

// Client sends racelab's requests on one persistent connection.
type Client struct {
	c  net.Conn
	br *bufio.Reader
}

// Dial connects a Client to addr; the test's cleanup closes it.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &Client{c: c, br: bufio.NewReader(c)}
}

// Do sends one request with id (a POST carries a small body), asking the
// backend for fault, and returns the status: 0 when the connection ended
// without a response.
func (cl *Client) Do(t testing.TB, method, id string, fault backends.FaultKind) int {
	t.Helper()
	require.NoError(t, cl.c.SetDeadline(time.Now().Add(10*time.Second)))
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("racelab body")
	}
	req, err := http.NewRequest(method, "http://racelab"+backends.PathPrefix+id, body)
	require.NoError(t, err)
	req.Header.Set(backends.RequestIDHeader, id)
	if fault != backends.FaultNone {
		req.Header.Set(backends.FaultHeader, string(fault))
	}
	require.NoError(t, req.Write(cl.c))
	resp, err := http.ReadResponse(cl.br, req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Count returns how many events of kind the backend recorded for request
// id, and on which connections.
func Count(rec *backends.Recorder, id string, kind backends.EventKind) (n int, conns map[uint64]bool) {
	conns = map[uint64]bool{}
	for _, e := range rec.ForRequest(id) {
		if e.Kind == kind {
			n++
			conns[e.ConnID] = true
		}
	}
	return n, conns
}

// Evidenced is a running proxy whose log lines are evidence.
type Evidenced interface {
	Evidence() *proxies.EvidenceLog
	Logs() []string
}

// WaitEvidence waits up to 5 s for the proxy's line of source about
// request id and returns the request's evidence; the failure shows the
// proxy's output.
func WaitEvidence(t testing.TB, p Evidenced, id, source string) []proxies.Evidence {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	evs, err := p.Evidence().Wait(ctx, id, source)
	require.NoError(t, err, "no %s line for %s; output: %s", source, id, strings.Join(p.Logs(), "\n"))
	return evs
}

// GroupPIDs lists the processes in process group pgid, from /proc.
func GroupPIDs(t testing.TB, pgid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The fields after the command, which may hold spaces, in parentheses.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
		f := strings.Fields(rest)
		if len(f) > 2 && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}
