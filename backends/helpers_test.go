package backends

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// waitFor bounds every wait for an event in the tests.
const waitFor = 5 * time.Second

// start runs a backend with a recorder for the test and, at cleanup,
// closes it and checks the invariants every connection must keep.
func start(t testing.TB, cfg Config, opts ...Option) (*Server, *Recorder) {
	t.Helper()
	rec := NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	s, err := Start(ctx, cfg, append([]Option{WithObserver(rec.Observe)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		checkInvariants(t, rec)
	})
	return s, rec
}

// checkInvariants: ids count up from 1, every connection starts with one
// accept and ends with exactly one close, and time never runs backwards
// within a connection.
func checkInvariants(t testing.TB, rec *Recorder) {
	t.Helper()
	var accepts []uint64
	for _, e := range rec.Events(0) {
		if e.Kind == EventAccept {
			accepts = append(accepts, e.ConnID)
		}
	}
	// Each connection's goroutine reports its own accept, so accepts of
	// connections made at once may be recorded out of id order.
	slices.Sort(accepts)
	for i, id := range accepts {
		require.Equal(t, uint64(i+1), id, "connection ids count up from 1")
		evs := rec.ForConn(id)
		require.Equal(t, EventAccept, evs[0].Kind, "conn %d starts with accept", id)
		require.Equal(t, EventClose, evs[len(evs)-1].Kind, "conn %d ends with close", id)
		closes := 0
		for j, e := range evs {
			if e.Kind == EventClose {
				closes++
			}
			if j > 0 {
				require.False(t, e.Time.Before(evs[j-1].Time), "conn %d: %s before %s", id, e.Kind, evs[j-1].Kind)
			}
		}
		require.Equal(t, 1, closes, "conn %d has exactly one close event", id)
	}
}

// client is a raw HTTP/1.1 client on one connection.
type client struct {
	t  testing.TB
	nc *net.TCPConn
	br *bufio.Reader
}

func dial(t testing.TB, s *Server) *client {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr(), waitFor)
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return &client{t: t, nc: nc.(*net.TCPConn), br: bufio.NewReader(nc)}
}

// rawRequest renders a GET for id with extra header lines.
func rawRequest(method, id string, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s%s HTTP/1.1\r\nHost: backend\r\n", method, PathPrefix, id)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return b.String()
}

func (c *client) write(s string) {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetWriteDeadline(time.Now().Add(waitFor)))
	_, err := io.WriteString(c.nc, s)
	require.NoError(c.t, err)
}

// response reads one response and its body.
func (c *client) response(method string) (*http.Response, string) {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetReadDeadline(time.Now().Add(waitFor)))
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	require.NoError(c.t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp, string(body)
}

// get sends a GET for id and returns the response.
func (c *client) get(id string, headers ...string) (*http.Response, string) {
	c.t.Helper()
	c.write(rawRequest(http.MethodGet, id, headers...))
	return c.response(http.MethodGet)
}

// closed reads until the connection ends and returns the bytes it got,
// when it ended and the error that ended it (io.EOF for a FIN).
func (c *client) closed() (int, time.Time, error) {
	c.t.Helper()
	require.NoError(c.t, c.nc.SetReadDeadline(time.Now().Add(waitFor)))
	var buf [512]byte
	total := 0
	for {
		n, err := c.br.Read(buf[:])
		total += n
		if err != nil {
			return total, time.Now(), err
		}
	}
}

// waitEvent waits for the first event of kind on connection conn.
func waitEvent(t testing.TB, rec *Recorder, conn uint64, kind EventKind) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	e, err := rec.Wait(ctx, 0, func(e Event) bool { return e.ConnID == conn && e.Kind == kind })
	require.NoError(t, err, "waiting for %s on conn %d", kind, conn)
	return e
}

// waitRequest waits for the event of kind about request id and returns
// every event of that request so far.
func waitRequest(t testing.TB, rec *Recorder, id string, kind EventKind) []Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	_, err := rec.Wait(ctx, 0, func(e Event) bool { return e.RequestID == id && e.Kind == kind })
	require.NoError(t, err, "waiting for %s of request %q", kind, id)
	return rec.ForRequest(id)
}

// kinds lists the event kinds of a connection, with request ids.
func kinds(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(e.Kind)
		if e.RequestID != "" {
			out[i] += " " + e.RequestID
		}
		if e.Reason != "" {
			out[i] += " " + e.Reason
		}
	}
	return out
}
