package backends

import (
	"context"
	"sync"
)

// Recorder keeps the events it observes, indexed by request id and
// connection id, and lets callers wait for an event. Its Observe method is
// an Observer. Event indexes are absolute (the n-th event observed has
// index n-1) and stay valid after Forget drops older events, so a
// long-running caller keeps memory flat. Safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex
	base    int // absolute index of events[0]
	events  []Event
	byReq   map[string][]int // absolute indexes
	byConn  map[uint64][]int // absolute indexes
	changed chan struct{}    // closed and replaced on every event
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
	i := r.base + len(r.events)
	r.events = append(r.events, e)
	if e.RequestID != "" {
		r.byReq[e.RequestID] = append(r.byReq[e.RequestID], i)
	}
	r.byConn[e.ConnID] = append(r.byConn[e.ConnID], i)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Len is the number of events observed so far (forgotten ones included):
// the index the next event gets.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.base + len(r.events)
}

// Events returns a copy of the events recorded from index from on (those
// not forgotten).
func (r *Recorder) Events(from int) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	from = max(from-r.base, 0)
	if from >= len(r.events) {
		return nil
	}
	return append([]Event(nil), r.events[from:]...)
}

// Forget drops the events with an index below before: ForRequest, ForConn
// and Events no longer return them. Indexes of the others do not change.
func (r *Recorder) Forget(before int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(before-r.base, len(r.events))
	if n <= 0 {
		return
	}
	r.events = append([]Event(nil), r.events[n:]...)
	r.base += n
	r.byReq = make(map[string][]int)
	r.byConn = make(map[uint64][]int)
	for k, e := range r.events {
		i := r.base + k
		if e.RequestID != "" {
			r.byReq[e.RequestID] = append(r.byReq[e.RequestID], i)
		}
		r.byConn[e.ConnID] = append(r.byConn[e.ConnID], i)
	}
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
		out[i] = r.events[j-r.base]
	}
	return out
}

// Wait returns the first event, recorded at index from or later, for which
// match is true, waiting for it until ctx is done.
func (r *Recorder) Wait(ctx context.Context, from int, match func(Event) bool) (Event, error) {
	for {
		r.mu.Lock()
		for i := max(from-r.base, 0); i < len(r.events); i++ {
			if match(r.events[i]) {
				e := r.events[i]
				r.mu.Unlock()
				return e, nil
			}
		}
		from = r.base + len(r.events)
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}
