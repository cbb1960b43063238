package backends

import (
	"context"
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
