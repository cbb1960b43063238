package proxies

import (
	"fmt"
	"testing"
)

func TestEvidenceLogForgetsOldestRequests(t *testing.T) {
	l := NewEvidenceLog()
	n := MaxEvidenceRequests * 3
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("r%d", i)
		l.Add(Evidence{RequestID: id, Source: "access", Status: 200})
		l.Add(Evidence{RequestID: id, Source: "error", Message: "second line"})
	}
	if got := len(l.ForRequest(fmt.Sprintf("r%d", n-1))); got != 2 {
		t.Errorf("newest request: %d evidence lines, want 2", got)
	}
	if got := len(l.ForRequest("r0")); got != 0 {
		t.Errorf("oldest request still has %d lines; the log must forget it", got)
	}
	l.mu.Lock()
	kept, order := len(l.byReq), len(l.order)
	l.mu.Unlock()
	if kept > MaxEvidenceRequests || kept != order {
		t.Errorf("log keeps %d request ids (order %d), want at most %d and both equal", kept, order, MaxEvidenceRequests)
	}
}
