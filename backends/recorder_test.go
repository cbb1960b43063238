package backends

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecorderIndexes(t *testing.T) {
	r := NewRecorder()
	r.Observe(Event{Kind: EventAccept, ConnID: 1})
	r.Observe(Event{Kind: EventRequest, ConnID: 1, RequestID: "a"})
	r.Observe(Event{Kind: EventAccept, ConnID: 2})
	r.Observe(Event{Kind: EventResponse, ConnID: 1, RequestID: "a"})

	assert.Equal(t, 4, r.Len())
	assert.Equal(t, []string{"request a", "response a"}, kinds(r.ForRequest("a")))
	assert.Equal(t, []string{"accept", "request a", "response a"}, kinds(r.ForConn(1)))
	assert.Equal(t, []string{"accept"}, kinds(r.ForConn(2)))
	assert.Empty(t, r.ForRequest("missing"))
	assert.Equal(t, []string{"accept", "response a"}, kinds(r.Events(2)))
	assert.Len(t, r.Events(-1), 4)
	assert.Nil(t, r.Events(4))

	// Events returns a copy.
	evs := r.Events(0)
	evs[0].Kind = EventClose
	assert.Equal(t, EventAccept, r.Events(0)[0].Kind)
}

func TestRecorderWait(t *testing.T) {
	r := NewRecorder()
	r.Observe(Event{Kind: EventClose, ConnID: 1})
	isClose := func(e Event) bool { return e.Kind == EventClose }

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	e, err := r.Wait(ctx, 0, isClose)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), e.ConnID, "an event already recorded matches")

	// From index 1 on, the next close has to arrive.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.Observe(Event{Kind: EventAccept, ConnID: 2})
		r.Observe(Event{Kind: EventClose, ConnID: 2})
	}()
	e, err = r.Wait(ctx, 1, isClose)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), e.ConnID)
	wg.Wait()

	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	_, err = r.Wait(short, r.Len(), isClose)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestRecorderForgetKeepsIndexes(t *testing.T) {
	r := NewRecorder()
	for i := 0; i < 10; i++ {
		r.Observe(Event{Kind: EventRequest, ConnID: uint64(i % 2), RequestID: fmt.Sprintf("r%d", i)})
	}
	r.Forget(6)
	if got := r.Len(); got != 10 {
		t.Fatalf("Len after Forget = %d, want 10 (indexes are absolute)", got)
	}
	if evs := r.ForRequest("r3"); len(evs) != 0 {
		t.Errorf("ForRequest(r3) after Forget(6) = %v, want none", evs)
	}
	if evs := r.ForRequest("r7"); len(evs) != 1 || evs[0].RequestID != "r7" {
		t.Errorf("ForRequest(r7) = %v, want the r7 event", evs)
	}
	if evs := r.ForConn(0); len(evs) != 2 || evs[0].RequestID != "r6" || evs[1].RequestID != "r8" {
		t.Errorf("ForConn(0) = %v, want r6 and r8", evs)
	}
	if evs := r.Events(8); len(evs) != 2 || evs[0].RequestID != "r8" {
		t.Errorf("Events(8) = %v, want r8, r9", evs)
	}
	if evs := r.Events(0); len(evs) != 4 {
		t.Errorf("Events(0) = %d events, want the 4 not forgotten", len(evs))
	}
	r.Observe(Event{Kind: EventClose, ConnID: 1, RequestID: "r10"})
	e, err := r.Wait(context.Background(), 10, func(e Event) bool { return e.Kind == EventClose })
	if err != nil || e.RequestID != "r10" {
		t.Errorf("Wait from absolute index 10 = %v, %v; want the r10 close", e, err)
	}
	r.Forget(3) // already forgotten: no-op
	r.Forget(100)
	if r.Len() != 11 || len(r.Events(0)) != 0 {
		t.Errorf("Forget past the end: Len %d, %d events left; want 11, 0", r.Len(), len(r.Events(0)))
	}
}
