package proxies

import (
	"context"
	"strings"
	"sync"
)

// Evidence is what a proxy logged about one request.
type Evidence struct {
	// Source is "access" for the per-request log line, "error" for an
	// error-log line, "handler" for the embedded proxy's error handler.
	Source    string `json:"source"`
	RequestID string `json:"request_id,omitempty"`
	// Status is the status the proxy answered (access lines).
	Status int `json:"status,omitempty"`
	// UpstreamStatus is the per-attempt upstream status list as the proxy
	// logs it (nginx "502, 200").
	UpstreamStatus string `json:"upstream_status,omitempty"`
	// Attempts is how many upstream attempts the proxy made, where it logs
	// it (0: unknown).
	Attempts int `json:"attempts,omitempty"`
	// Flags are HAProxy's termination state or Envoy's response flags.
	Flags string `json:"flags,omitempty"`
	// Details is Envoy's response code details.
	Details string `json:"details,omitempty"`
	// Message is an error-log message.
	Message string `json:"message,omitempty"`
	Raw     string `json:"raw,omitempty"`
}

// EvidenceLog collects evidence by request id. It keeps the evidence of
// the most recent MaxEvidenceRequests request ids, so a proxy that logs
// every trial of a long run costs flat memory. Safe for concurrent use.
type EvidenceLog struct {
	mu      sync.Mutex
	byReq   map[string][]Evidence
	order   []string   // request ids, oldest first
	orphans []Evidence // evidence with no request id, most recent last
	changed chan struct{}
}

// maxOrphans bounds the evidence kept without a request id.
const maxOrphans = 256

// MaxEvidenceRequests is how many request ids an EvidenceLog keeps
// evidence for; the oldest are forgotten first.
const MaxEvidenceRequests = 4096

// NewEvidenceLog returns an empty log.
func NewEvidenceLog() *EvidenceLog {
	return &EvidenceLog{byReq: make(map[string][]Evidence), changed: make(chan struct{})}
}

// Add records ev.
func (l *EvidenceLog) Add(ev Evidence) {
	l.mu.Lock()
	if ev.RequestID == "" {
		l.orphans = append(l.orphans, ev)
		if len(l.orphans) > maxOrphans {
			l.orphans = l.orphans[len(l.orphans)-maxOrphans:]
		}
	} else {
		if _, ok := l.byReq[ev.RequestID]; !ok {
			l.order = append(l.order, ev.RequestID)
			if len(l.order) > MaxEvidenceRequests {
				drop := len(l.order) - MaxEvidenceRequests/2
				for _, id := range l.order[:drop] {
					delete(l.byReq, id)
				}
				l.order = append([]string(nil), l.order[drop:]...)
			}
		}
		l.byReq[ev.RequestID] = append(l.byReq[ev.RequestID], ev)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
}

// ForRequest returns the evidence for request id, in arrival order.
func (l *EvidenceLog) ForRequest(id string) []Evidence {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Evidence(nil), l.byReq[id]...)
}

// Orphans returns the most recent evidence that named no request.
func (l *EvidenceLog) Orphans() []Evidence {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Evidence(nil), l.orphans...)
}

// Wait waits until evidence from source (any source when empty) exists
// for request id, or ctx is done, and returns all evidence for the id.
func (l *EvidenceLog) Wait(ctx context.Context, id, source string) ([]Evidence, error) {
	for {
		l.mu.Lock()
		evs := l.byReq[id]
		for _, ev := range evs {
			if source == "" || ev.Source == source {
				out := append([]Evidence(nil), evs...)
				l.mu.Unlock()
				return out, nil
			}
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return l.ForRequest(id), ctx.Err()
		}
	}
}

// FirstLine is the first non-empty line of a command's output, trimmed and
// cut at 200 bytes, for error messages.
func FirstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	const max = 200
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
