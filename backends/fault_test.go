package backends

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clientSees checks how the client experiences a backend close of style.
func clientSees(t *testing.T, c *client, style CloseStyle) {
	t.Helper()
	n, _, err := c.closed()
	assert.Zero(t, n, "no bytes of a response")
	if style == CloseRST {
		assert.True(t, isReset(err), "want ECONNRESET, got %v", err)
	} else {
		assert.ErrorIs(t, err, io.EOF)
	}
}

func TestCloseOnReuseByIndex(t *testing.T) {
	for _, style := range []CloseStyle{CloseFIN, CloseRST} {
		t.Run(string(style), func(t *testing.T) {
			s, rec := start(t, Config{CloseStyle: style, Fault: Fault{Kind: FaultCloseOnReuse, Index: 3}})
			c := dial(t, s)
			for i := 1; i <= 2; i++ {
				resp, _ := c.get("v" + strconv.Itoa(i))
				require.Equal(t, http.StatusOK, resp.StatusCode)
			}
			// The victim is a POST whose body arrives after its headers
			// were read: the backend reads the body before it closes, so
			// that a FIN close is still a FIN rather than an RST for
			// unread bytes.
			c.write("POST /r/v3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
			waitRequest(t, rec, "v3", EventRequest)
			c.write("hello")
			clientSees(t, c, style)

			evs := waitRequest(t, rec, "v3", EventClose)
			assert.Equal(t, []string{"request v3", "close v3 close-on-reuse"}, kinds(evs), "the handler never ran")
			e := evs[1]
			assert.Equal(t, CloserBackend, e.Closer)
			assert.Equal(t, FaultCloseOnReuse, e.Fault)
			assert.Equal(t, style, e.Style)
			assert.Equal(t, 3, e.ReqIndex)
			assert.Zero(t, e.UnreadBytes)
		})
	}
}

func TestCloseOnReuseByHeader(t *testing.T) {
	s, rec := start(t, Config{Fault: Fault{Kind: FaultCloseOnReuse}})
	victim := FaultHeader + ": " + string(FaultCloseOnReuse)

	// A fresh connection carrying the header is served: only a reused
	// connection can be a victim, so a proxy's retry on a new connection
	// succeeds.
	c := dial(t, s)
	resp, _ := c.get("h1", victim)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// Reused, but no header (or the header naming another fault): served.
	resp, _ = c.get("h2")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = c.get("h3", FaultHeader+": "+string(FaultProcessedThenDropped))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	// Reused and marked: closed without an answer.
	c.write(rawRequest(http.MethodGet, "h4", victim))
	clientSees(t, c, CloseFIN)

	e := waitEvent(t, rec, 1, EventClose)
	assert.Equal(t, ReasonCloseOnReuse, e.Reason)
	assert.Equal(t, "h4", e.RequestID)
	assert.Equal(t, 4, e.ReqIndex)
	for _, id := range []string{"h1", "h2", "h3"} {
		assert.Len(t, waitRequest(t, rec, id, EventResponse), 3, id)
	}
}

func TestProcessedThenDropped(t *testing.T) {
	const delay = 30 * time.Millisecond
	for _, tc := range []struct {
		name  string
		fault Fault
		extra []string
	}{
		{"by index", Fault{Kind: FaultProcessedThenDropped, Index: 2}, nil},
		{"by header", Fault{Kind: FaultProcessedThenDropped}, []string{FaultHeader + ": " + string(FaultProcessedThenDropped)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := start(t, Config{ResponseDelay: delay, Fault: tc.fault})
			c := dial(t, s)
			resp, _ := c.get("d1", tc.extra...)
			require.Equal(t, http.StatusOK, resp.StatusCode, "never on the first request of a connection")
			c.write(rawRequest(http.MethodGet, "d2", tc.extra...))
			clientSees(t, c, CloseFIN)

			evs := waitRequest(t, rec, "d2", EventClose)
			assert.Equal(t, []string{"request d2", "handler d2", "close d2 processed-then-dropped"}, kinds(evs))
			assert.GreaterOrEqual(t, evs[1].Time.Sub(evs[0].Time), delay, "the handler ran, delay included")
			assert.Equal(t, FaultProcessedThenDropped, evs[2].Fault)
			assert.Equal(t, CloserBackend, evs[2].Closer)
		})
	}
}

func TestFaultOnlyOnItsIndex(t *testing.T) {
	s, rec := start(t, Config{Fault: Fault{Kind: FaultCloseOnReuse, Index: 2}})
	// Every connection loses its second request, and only that one.
	for conn := 1; conn <= 2; conn++ {
		c := dial(t, s)
		resp, _ := c.get("f" + strconv.Itoa(conn) + "-1")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		c.write(rawRequest(http.MethodGet, "f"+strconv.Itoa(conn)+"-2"))
		clientSees(t, c, CloseFIN)
		assert.Equal(t, ReasonCloseOnReuse, waitEvent(t, rec, uint64(conn), EventClose).Reason)
	}
}
