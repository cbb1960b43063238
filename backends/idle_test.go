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

// idleTolerance is how late, after the reported deadline, an idle close
// may happen in a test. It is generous so that a 2-core machine several
// times oversubscribed and running the race detector passes (60ms was
// seen there); the typical lateness, well under a millisecond, is measured
// by BenchmarkIdleCloseLateness.
const idleTolerance = 100 * time.Millisecond

func TestIdleTimeout(t *testing.T) {
	const idle = 100 * time.Millisecond
	for _, tc := range []struct {
		name    string
		precise bool
	}{
		{"precise timers", true},
		{"read deadline only", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := start(t, Config{IdleTimeout: idle}, WithPreciseTimers(tc.precise))
			c := dial(t, s)
			resp, _ := c.get("i1")
			require.False(t, resp.Close)
			// A request before the deadline keeps the connection and
			// re-arms the timer.
			resp, _ = c.get("i2")
			require.False(t, resp.Close)

			evs := waitRequest(t, rec, "i2", EventIdleArmed)
			response, armed := evs[2], evs[3]
			require.Equal(t, EventResponse, response.Kind)
			require.Equal(t, EventIdleArmed, armed.Kind)
			assert.Equal(t, ReasonIdle, armed.Reason)
			assert.Equal(t, 2, armed.ReqIndex)
			assert.Equal(t, response.Time, armed.Time, "armed when the response was written")
			assert.Equal(t, armed.Time.Add(idle), armed.Deadline, "deadline is exactly the idle timeout after the response")

			n, at, err := c.closed()
			assert.Zero(t, n)
			assert.ErrorIs(t, err, io.EOF, "a FIN close reads as EOF")
			// Same process, same monotonic clock: compare directly.
			assert.False(t, at.Before(armed.Deadline), "closed %v before the deadline", armed.Deadline.Sub(at))
			assert.Less(t, at.Sub(armed.Deadline), idleTolerance, "closed too late")

			e := waitEvent(t, rec, 1, EventClose)
			assert.Equal(t, CloserBackend, e.Closer)
			assert.Equal(t, ReasonIdle, e.Reason)
			assert.Equal(t, CloseFIN, e.Style)
			assert.Zero(t, e.UnreadBytes)
			assert.Empty(t, e.RequestID)
			assert.False(t, e.Time.Before(armed.Deadline))
			assert.Less(t, e.Time.Sub(armed.Deadline), idleTolerance)
		})
	}
}

func TestCloseStyles(t *testing.T) {
	for _, tc := range []struct {
		style CloseStyle
		check func(t *testing.T, err error)
	}{
		{CloseFIN, func(t *testing.T, err error) { assert.ErrorIs(t, err, io.EOF) }},
		{CloseRST, func(t *testing.T, err error) {
			assert.True(t, isReset(err), "want ECONNRESET, got %v", err)
		}},
	} {
		t.Run(string(tc.style), func(t *testing.T) {
			s, rec := start(t, Config{IdleTimeout: 20 * time.Millisecond, CloseStyle: tc.style})
			c := dial(t, s)
			c.get("c1")
			n, _, err := c.closed()
			assert.Zero(t, n)
			tc.check(t, err)
			e := waitEvent(t, rec, 1, EventClose)
			assert.Equal(t, tc.style, e.Style)
			assert.Equal(t, ReasonIdle, e.Reason)
		})
	}
}

func TestNoIdleTimeoutKeepsConnection(t *testing.T) {
	s, rec := start(t, Config{})
	c := dial(t, s)
	c.get("k1")
	// No deadline, so no idle-armed event; the connection stays open
	// until it is used again well after any timer would have fired.
	waitRequest(t, rec, "k1", EventResponse)
	time.Sleep(50 * time.Millisecond)
	resp, _ := c.get("k2")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	for _, e := range rec.ForConn(1) {
		assert.NotEqual(t, EventIdleArmed, e.Kind)
		assert.NotEqual(t, EventClose, e.Kind)
	}
}

// TestUnreadBytesAtIdleClose forces the natural race deterministically: the
// observer holds the connection goroutine past its idle deadline while the
// next request arrives. The deadline wins, the request sits unread in the
// kernel's receive buffer, and the kernel turns the FIN close into an RST.
func TestUnreadBytesAtIdleClose(t *testing.T) {
	const idle = 20 * time.Millisecond
	release := make(chan struct{})
	armed := make(chan Event, 1)
	rec := NewRecorder()
	hold := func(e Event) {
		rec.Observe(e)
		if e.Kind == EventIdleArmed {
			armed <- e
			<-release
		}
	}
	s, err := Start(t.Context(), Config{IdleTimeout: idle}, WithObserver(hold))
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		checkInvariants(t, rec)
	})
	c := dial(t, s)
	c.write(rawRequest(http.MethodGet, "first"))
	var a Event
	select {
	case a = <-armed:
	case <-time.After(waitFor):
		t.Fatal("no idle-armed event")
	}
	c.response(http.MethodGet)
	// Let the deadline pass, then send the next request while the
	// connection goroutine is still held.
	time.Sleep(time.Until(a.Deadline) + 5*time.Millisecond)
	late := rawRequest(http.MethodGet, "late-1")
	c.write(late)
	close(release)

	n, _, rerr := c.closed()
	assert.Zero(t, n, "the late request gets no response")
	assert.True(t, isReset(rerr), "unread bytes turn the close into an RST, got %v", rerr)
	e := waitEvent(t, rec, 1, EventClose)
	assert.Equal(t, ReasonIdle, e.Reason)
	assert.Equal(t, CloseFIN, e.Style, "the backend chose FIN; the kernel sent RST")
	assert.Equal(t, len(late), e.UnreadBytes)
	assert.Equal(t, "late-1", e.RequestID, "the id is read from the unread bytes")
	for _, ev := range rec.ForRequest("late-1") {
		assert.Equal(t, EventClose, ev.Kind, "the late request was never read")
	}
}

// TestUnreadBytesBuffered: bytes the backend already read but never parsed
// (a pipelined request behind a fault's victim) count too.
func TestUnreadBytesBuffered(t *testing.T) {
	s, rec := start(t, Config{Fault: Fault{Kind: FaultCloseOnReuse, Index: 2}})
	c := dial(t, s)
	c.get("u1")
	next := rawRequest(http.MethodGet, "u3")
	c.write(rawRequest(http.MethodGet, "u2") + next)
	n, _, _ := c.closed()
	assert.Zero(t, n)
	e := waitEvent(t, rec, 1, EventClose)
	assert.Equal(t, ReasonCloseOnReuse, e.Reason)
	assert.Equal(t, "u2", e.RequestID, "the close names the victim")
	assert.Equal(t, len(next), e.UnreadBytes)
}

// TestManyIdleClosesAtOnce: more connections reach their deadline together
// than may poll precisely at once; the rest fall back to the read deadline
// and every one still closes on time, for the idle reason.
func TestManyIdleClosesAtOnce(t *testing.T) {
	const idle = 50 * time.Millisecond
	const conns = 3 * maxPrecisePollers
	s, rec := start(t, Config{IdleTimeout: idle})
	clients := make([]*client, conns)
	for i := range clients {
		clients[i] = dial(t, s)
	}
	for i, c := range clients {
		c.get("many-" + strconv.Itoa(i))
	}
	for i, c := range clients {
		// Clients are read one after the other, so the backend's close
		// event, not the moment a client looks, says when each closed.
		_, _, err := c.closed()
		assert.ErrorIs(t, err, io.EOF)
		armed := waitRequest(t, rec, "many-"+strconv.Itoa(i), EventIdleArmed)[3]
		closed := waitEvent(t, rec, uint64(i+1), EventClose)
		assert.Equal(t, ReasonIdle, closed.Reason)
		assert.False(t, closed.Time.Before(armed.Deadline), "conn %d closed before its deadline", i+1)
		assert.Less(t, closed.Time.Sub(armed.Deadline), idleTolerance, "conn %d", i+1)
	}
}
