package backends

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCloseEndsEverything(t *testing.T) {
	s, rec := start(t, Config{ResponseDelay: time.Minute, IdleTimeout: time.Hour, CloseStyle: CloseRST})

	fresh := dial(t, s)
	waitEvent(t, rec, 1, EventAccept)
	busy := dial(t, s)
	busy.write(rawRequest(http.MethodGet, "stuck"))
	waitRequest(t, rec, "stuck", EventRequest)

	began := time.Now()
	require.NoError(t, s.Close())
	assert.Less(t, time.Since(began), 2*time.Second, "Close interrupts the one-minute handler")
	assert.NoError(t, s.Close(), "Close is idempotent")

	for i, c := range []*client{fresh, busy} {
		n, _, err := c.closed()
		assert.Zero(t, n, "client %d gets no response", i+1)
		assert.True(t, isReset(err), "RST style, got %v", err)
		e := rec.ForConn(uint64(i + 1))
		last := e[len(e)-1]
		assert.Equal(t, EventClose, last.Kind, "Close returns after the close events")
		assert.Equal(t, ReasonShutdown, last.Reason)
		assert.Equal(t, CloserBackend, last.Closer)
	}
	assert.Equal(t, []string{"request stuck", "close stuck shutdown"}, kinds(rec.ForRequest("stuck")))

	_, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	assert.Error(t, err, "the listener is closed")
}

func TestCloseReportsWhatIsStuck(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{})
	block := func(e Event) {
		if e.Kind == EventRequest {
			close(entered)
			<-release
		}
	}
	s, err := Start(t.Context(), Config{}, WithObserver(block), WithCloseTimeout(100*time.Millisecond))
	require.NoError(t, err)
	c := dial(t, s)
	c.write(rawRequest(http.MethodGet, "x"))
	select {
	case <-entered:
	case <-time.After(waitFor):
		t.Fatal("the request never reached the observer")
	}

	// Close cannot finish while the observer holds conn 1.
	err = s.Close()
	close(release)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "close backend: after 100ms: 1 connection(s) still running: conn 1 reading a request (inside the observer)")
	s.wg.Wait()
}

func TestShutdownLetsInFlightFinish(t *testing.T) {
	const delay = 200 * time.Millisecond
	s, rec := start(t, Config{ResponseDelay: delay, IdleTimeout: time.Hour})

	idle := dial(t, s)
	idle.get("idle-1")
	busy := dial(t, s)
	busy.write(rawRequest(http.MethodGet, "busy-1"))
	waitRequest(t, rec, "busy-1", EventRequest)

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()

	// The idle connection closes at once, long before the handler ends.
	_, at, err := idle.closed()
	assert.ErrorIs(t, err, io.EOF)
	e := waitEvent(t, rec, 1, EventClose)
	assert.Equal(t, ReasonShutdown, e.Reason)
	handler := waitRequest(t, rec, "busy-1", EventRequest)[0].Time.Add(delay)
	assert.True(t, at.Before(handler), "idle connection closed before the in-flight handler ended")

	// The in-flight request is answered, with Connection: close.
	resp, body := busy.response(http.MethodGet)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok busy-1\n", body)
	assert.True(t, resp.Close)
	_, _, err = busy.closed()
	assert.ErrorIs(t, err, io.EOF)
	require.NoError(t, <-done)
	e = waitEvent(t, rec, 2, EventClose)
	assert.Equal(t, ReasonShutdown, e.Reason)
	assert.Equal(t, "busy-1", e.RequestID)

	_, err = net.DialTimeout("tcp", s.Addr(), time.Second)
	assert.Error(t, err, "the listener is closed")
}

func TestShutdownGivesUpWithContext(t *testing.T) {
	s, rec := start(t, Config{ResponseDelay: time.Minute})
	c := dial(t, s)
	c.write(rawRequest(http.MethodGet, "long"))
	waitRequest(t, rec, "long", EventRequest)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.Shutdown(ctx)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.DeadlineExceeded))
	assert.Contains(t, err.Error(), "conn 1 in the handler")

	// Close still ends it.
	require.NoError(t, s.Close())
	n, _, _ := c.closed()
	assert.Zero(t, n)
	assert.Equal(t, ReasonShutdown, waitEvent(t, rec, 1, EventClose).Reason)
}
