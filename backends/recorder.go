package backends

import (
	"context"
	"sync"
)

// Recorder keeps every event it observes, indexed by request id and
// connection id, and lets callers wait for an event. Its Observe method is
// an Observer. Safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	events  []Event
	byReq   map[string][]int
	byConn  map[uint64][]int
	changed chan struct{} // closed and replaced on every event
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{
		byReq:   make(map[string][]int),
		byConn:  make(map[uint64][]int),
		changed: make(chan struct{}),
	}
}

// Observe records e. It is an Observer.
func (r *Recorder) Observe(e Event) {
	r.mu.Lock()
	i := len(r.events)
	r.events = append(r.events, e)
	if e.RequestID != "" {
		r.byReq[e.RequestID] = append(r.byReq[e.RequestID], i)
	}
	r.byConn[e.ConnID] = append(r.byConn[e.ConnID], i)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Len is the number of events recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// Events returns a copy of the events recorded from index from on.
func (r *Recorder) Events(from int) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if from < 0 {
		from = 0
	}
	if from >= len(r.events) {
		return nil
	}
	return append([]Event(nil), r.events[from:]...)
}

// ForRequest returns the events that carry request id id, in order.
func (r *Recorder) ForRequest(id string) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pick(r.byReq[id])
}

// ForConn returns the events of connection id, in order.
func (r *Recorder) ForConn(id uint64) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pick(r.byConn[id])
}

func (r *Recorder) pick(idx []int) []Event {
	out := make([]Event, len(idx))
	for i, j := range idx {
		out[i] = r.events[j]
	}
	return out
}

// Wait returns the first event, recorded at index from or later, for which
// match is true, waiting for it until ctx is done.
func (r *Recorder) Wait(ctx context.Context, from int, match func(Event) bool) (Event, error) {
	for {
		r.mu.Lock()
		for i := max(from, 0); i < len(r.events); i++ {
			if match(r.events[i]) {
				e := r.events[i]
				r.mu.Unlock()
				return e, nil
			}
		}
		from = len(r.events)
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}
