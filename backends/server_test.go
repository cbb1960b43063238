package backends

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServeKeepAlive(t *testing.T) {
	s, rec := start(t, Config{})
	c := dial(t, s)

	for i, id := range []string{"a1", "a2", "a3"} {
		resp, body := c.get(id)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "ok "+id+"\n", body)
		assert.Equal(t, id, resp.Header.Get(RequestIDHeader))
		assert.Equal(t, "1", resp.Header.Get(ConnHeader))
		assert.Equal(t, strconv.Itoa(len(body)), resp.Header.Get("Content-Length"))
		assert.False(t, resp.Close, "request %d keeps the connection open", i+1)
		req := waitRequest(t, rec, id, EventResponse)
		require.Len(t, req, 3, "request, handler, response")
		assert.Equal(t, i+1, req[0].ReqIndex)
		assert.Equal(t, http.MethodGet, req[0].Method)
		assert.Equal(t, http.StatusOK, req[2].Status)
	}
	waitRequest(t, rec, "a3", EventResponse)
	assert.Equal(t, []string{"accept", "request a1", "handler a1", "response a1",
		"request a2", "handler a2", "response a2", "request a3", "handler a3", "response a3"},
		kinds(rec.ForConn(1)))

	// A second connection gets the next id.
	c2 := dial(t, s)
	resp, _ := c2.get("b1")
	assert.Equal(t, "2", resp.Header.Get(ConnHeader))
}

func TestRequestID(t *testing.T) {
	s, rec := start(t, Config{})
	c := dial(t, s)
	for _, tc := range []struct {
		name, request, want string
	}{
		{"path", "GET /r/p-17 HTTP/1.1\r\nHost: x\r\n\r\n", "p-17"},
		{"path with query", "GET /r/p-18?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", "p-18"},
		{"header wins over path", "GET /r/p-19 HTTP/1.1\r\nHost: x\r\n" + RequestIDHeader + ": h-19\r\n\r\n", "h-19"},
		{"header alone", "GET /other HTTP/1.1\r\nHost: x\r\n" + RequestIDHeader + ": h-20\r\n\r\n", "h-20"},
		{"absolute form", "GET http://x/r/p-21 HTTP/1.1\r\nHost: x\r\n\r\n", "p-21"},
		{"none", "GET /other HTTP/1.1\r\nHost: x\r\n\r\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := rec.Len()
			c.write(tc.request)
			resp, body := c.response(http.MethodGet)
			assert.Equal(t, tc.want, resp.Header.Get(RequestIDHeader))
			assert.Equal(t, strings.TrimSpace("ok "+tc.want)+"\n", body)
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			e, err := rec.Wait(ctx, from, func(e Event) bool { return e.Kind == EventRequest })
			require.NoError(t, err)
			assert.Equal(t, tc.want, e.RequestID)
		})
	}
}

func TestBodiesAreDrained(t *testing.T) {
	s, rec := start(t, Config{})
	c := dial(t, s)
	c.write("POST /r/post-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world")
	resp, _ := c.response(http.MethodPost)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	c.write("POST /r/post-2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	resp, _ = c.response(http.MethodPost)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// Had a body been left unread, this request would not parse.
	resp, body := c.get("after")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok after\n", body)
	assert.Equal(t, 3, waitRequest(t, rec, "after", EventRequest)[0].ReqIndex)
	assert.Equal(t, http.MethodPost, waitRequest(t, rec, "post-2", EventRequest)[0].Method)
}

func TestExpectContinue(t *testing.T) {
	s, _ := start(t, Config{})
	c := dial(t, s)
	c.write("PUT /r/put-1 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	resp, _ := c.response(http.MethodPut)
	require.Equal(t, http.StatusContinue, resp.StatusCode)
	c.write("data")
	resp, body := c.response(http.MethodPut)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok put-1\n", body)
}

func TestResponseStatus(t *testing.T) {
	for _, tc := range []struct {
		status   int
		method   string
		body     string
		length   string
		noLength bool
	}{
		{status: 200, method: "GET", body: "ok s\n", length: "5"},
		{status: 502, method: "GET", body: "backend 502 s\n", length: "14"},
		{status: 503, method: "HEAD", body: "", length: "14"},
		{status: 204, method: "GET", body: "", noLength: true},
		{status: 299, method: "GET", body: "ok s\n", length: "5"}, // no status text
	} {
		t.Run(strconv.Itoa(tc.status)+" "+tc.method, func(t *testing.T) {
			s, rec := start(t, Config{ResponseStatus: tc.status})
			c := dial(t, s)
			c.write(rawRequest(tc.method, "s"))
			resp, body := c.response(tc.method)
			assert.Equal(t, tc.status, resp.StatusCode)
			assert.Equal(t, tc.body, body)
			_, has := resp.Header["Content-Length"]
			assert.Equal(t, !tc.noLength, has)
			if !tc.noLength {
				assert.Equal(t, tc.length, resp.Header.Get("Content-Length"))
			}
			assert.Equal(t, tc.status, waitEvent(t, rec, 1, EventResponse).Status)
			// The connection is still usable: the framing was right.
			resp, _ = c.get("again")
			assert.Equal(t, tc.status, resp.StatusCode)
		})
	}
}

func TestResponseDelay(t *testing.T) {
	const delay = 80 * time.Millisecond
	s, rec := start(t, Config{ResponseDelay: delay})
	c := dial(t, s)
	sent := time.Now()
	resp, _ := c.get("slow")
	got := time.Since(sent)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.GreaterOrEqual(t, got, delay)
	evs := waitRequest(t, rec, "slow", EventResponse)
	require.Len(t, evs, 3)
	assert.GreaterOrEqual(t, evs[1].Time.Sub(evs[0].Time), delay, "handler event after the delay")
}

func TestClientAskedClose(t *testing.T) {
	s, rec := start(t, Config{CloseStyle: CloseRST})
	c := dial(t, s)
	resp, _ := c.get("bye", "Connection: close")
	assert.True(t, resp.Close)
	n, _, _ := c.closed()
	assert.Zero(t, n)
	e := waitEvent(t, rec, 1, EventClose)
	assert.Equal(t, CloserBackend, e.Closer)
	assert.Equal(t, ReasonClientClose, e.Reason)
	assert.Equal(t, "bye", e.RequestID)
	assert.Equal(t, CloseRST, e.Style)
}

func TestMaxRequests(t *testing.T) {
	s, rec := start(t, Config{MaxRequestsPerConn: 3})
	c := dial(t, s)
	for i := 1; i <= 3; i++ {
		resp, _ := c.get("m" + strconv.Itoa(i))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, i == 3, resp.Close, "request %d", i)
	}
	n, _, err := c.closed()
	assert.Zero(t, n)
	assert.ErrorIs(t, err, io.EOF)
	e := waitEvent(t, rec, 1, EventClose)
	assert.Equal(t, ReasonMaxRequests, e.Reason)
	assert.Equal(t, "m3", e.RequestID)
	assert.Equal(t, 3, e.ReqIndex)
	assert.Equal(t, CloseFIN, e.Style)
}

func TestMaxConnLifetime(t *testing.T) {
	const lifetime = 150 * time.Millisecond

	t.Run("idle connection closes when the lifetime ends", func(t *testing.T) {
		s, rec := start(t, Config{MaxConnLifetime: lifetime, IdleTimeout: time.Hour})
		c := dial(t, s)
		resp, _ := c.get("l1")
		require.False(t, resp.Close)
		accepted := waitEvent(t, rec, 1, EventAccept).Time
		armed := waitEvent(t, rec, 1, EventIdleArmed)
		assert.Equal(t, ReasonLifetime, armed.Reason, "the lifetime ends before the idle timeout")
		assert.Equal(t, accepted.Add(lifetime), armed.Deadline)
		_, at, err := c.closed()
		assert.ErrorIs(t, err, io.EOF)
		assert.False(t, at.Before(armed.Deadline), "closed %v before the end of its lifetime", armed.Deadline.Sub(at))
		assert.Less(t, at.Sub(armed.Deadline), idleTolerance)
		assert.Equal(t, ReasonLifetime, waitEvent(t, rec, 1, EventClose).Reason)
	})

	t.Run("the response that crosses the lifetime closes", func(t *testing.T) {
		s, rec := start(t, Config{MaxConnLifetime: lifetime, ResponseDelay: 100 * time.Millisecond})
		c := dial(t, s)
		resp, _ := c.get("x1") // done at ~100ms: within the lifetime
		assert.False(t, resp.Close)
		resp, _ = c.get("x2") // done at ~200ms: past it
		assert.True(t, resp.Close)
		_, _, err := c.closed()
		assert.ErrorIs(t, err, io.EOF)
		e := waitEvent(t, rec, 1, EventClose)
		assert.Equal(t, ReasonLifetime, e.Reason)
		assert.Equal(t, "x2", e.RequestID)
	})

	t.Run("a fresh connection that never sends closes at the end of its lifetime", func(t *testing.T) {
		s, rec := start(t, Config{MaxConnLifetime: lifetime})
		c := dial(t, s)
		_, _, err := c.closed()
		assert.ErrorIs(t, err, io.EOF)
		e := waitEvent(t, rec, 1, EventClose)
		assert.Equal(t, ReasonLifetime, e.Reason)
		assert.GreaterOrEqual(t, e.Time.Sub(waitEvent(t, rec, 1, EventAccept).Time), lifetime)
	})
}

func TestPeerCloses(t *testing.T) {
	s, rec := start(t, Config{IdleTimeout: time.Hour})
	c1 := dial(t, s)
	c1.get("p1")
	require.NoError(t, c1.nc.Close())
	e := waitEvent(t, rec, 1, EventClose)
	assert.Equal(t, CloserPeer, e.Closer)
	assert.Equal(t, ReasonPeerEOF, e.Reason)
	assert.Empty(t, e.Style, "no style on a close the peer made")

	c2 := dial(t, s)
	c2.get("p2")
	require.NoError(t, c2.nc.SetLinger(0))
	require.NoError(t, c2.nc.Close())
	e = waitEvent(t, rec, 2, EventClose)
	assert.Equal(t, CloserPeer, e.Closer)
	assert.Equal(t, ReasonPeerReset, e.Reason)

	// A peer that goes away halfway through a request.
	c3 := dial(t, s)
	c3.write("GET /r/p3 HTTP/1.1\r\nHost:")
	require.NoError(t, c3.nc.CloseWrite())
	e = waitEvent(t, rec, 3, EventClose)
	assert.Equal(t, ReasonPeerEOF, e.Reason)
}

func TestMalformedRequest(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, rec := start(t, Config{}, WithLogger(logger))
	c := dial(t, s)
	c.write("NOT HTTP AT ALL\r\n\r\n")
	resp, _ := c.response(http.MethodGet)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.True(t, resp.Close)
	e := waitEvent(t, rec, 1, EventClose)
	assert.Equal(t, CloserBackend, e.Closer)
	assert.Equal(t, ReasonReadError, e.Reason)
	assert.Contains(t, logs.String(), "backend bad request")
	assert.Contains(t, logs.String(), "conn=1")
}

func TestStartValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"close style", Config{CloseStyle: "half"}, `close style "half"`},
		{"fault kind", Config{Fault: Fault{Kind: "boom"}}, `fault "boom"`},
		{"fault index 1", Config{Fault: Fault{Kind: FaultCloseOnReuse, Index: 1}}, "fault index 1"},
		{"fault index negative", Config{Fault: Fault{Kind: FaultCloseOnReuse, Index: -2}}, "fault index -2"},
		{"negative idle", Config{IdleTimeout: -time.Second}, "negative"},
		{"negative lifetime", Config{MaxConnLifetime: -time.Second}, "negative"},
		{"negative delay", Config{ResponseDelay: -time.Second}, "negative"},
		{"negative max requests", Config{MaxRequestsPerConn: -1}, "max requests"},
		{"status too low", Config{ResponseStatus: 100}, "response status 100"},
		{"status too high", Config{ResponseStatus: 600}, "response status 600"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Start(context.Background(), tc.cfg)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.Contains(t, err.Error(), "start backend: ")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	t.Run("bad address", func(t *testing.T) {
		_, err := Start(context.Background(), Config{}, WithAddr("127.0.0.1:notaport"))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "start backend: ")
	})
}

func TestDefaultsFilledIn(t *testing.T) {
	s, _ := start(t, Config{})
	assert.Equal(t, CloseFIN, s.Config().CloseStyle)
	assert.Equal(t, http.StatusOK, s.Config().ResponseStatus)
	host, port, err := net.SplitHostPort(s.Addr())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	assert.NotEqual(t, "0", port)
}

// isReset reports whether err is the client's view of an RST.
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// TestAcceptNamesRemote: the accept event carries the peer's address,
// which names the connection in a packet capture.
func TestAcceptNamesRemote(t *testing.T) {
	s, rec := start(t, Config{})
	c := dial(t, s)
	e := waitEvent(t, rec, 1, EventAccept)
	assert.Equal(t, c.nc.LocalAddr().String(), e.Remote)
}
