package lab

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/racelab/racelab/results"
)

// A persistent client connection the proxy closed while it sat idle is
// replaced before the next request, so a client-side idle close is never
// mistaken for the upstream race; a live one is kept.
func TestCheckAliveReplacesAClosedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	ctx := context.Background()
	cl := newClient(ln.Addr().String(), true)
	defer cl.close()
	if err := cl.ensure(ctx); err != nil {
		t.Fatal(err)
	}
	first := <-accepted
	if err := cl.checkAlive(ctx); err != nil || cl.Reconnects != 0 {
		t.Fatalf("a live connection was replaced: %v, %d reconnects", err, cl.Reconnects)
	}
	first.Close() // the "proxy" closes the idle client connection
	deadline := time.Now().Add(2 * time.Second)
	for cl.Reconnects == 0 && time.Now().Before(deadline) {
		if err := cl.checkAlive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if cl.Reconnects != 1 {
		t.Fatalf("closed connection not replaced: %d reconnects", cl.Reconnects)
	}
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(2 * time.Second):
		t.Fatal("no new connection was opened")
	}
}

// The evidence wait gives every outcome class the full wait until it has
// seen it a few times, then waits only as long as the proxy needs for it:
// a class the proxy never logs costs almost nothing.
func TestEvidenceWaitsLearn(t *testing.T) {
	var w evidenceWaits
	full := 100 * time.Millisecond
	for i := 0; i < learnTrials; i++ {
		if got := w.limit(results.ClientEOF, full); got != full {
			t.Fatalf("trial %d: wait %v before learning, want %v", i, got, full)
		}
		w.observe(results.ClientEOF, false, full)
		w.observe(results.Proxy502, true, 2*time.Millisecond)
	}
	if got := w.limit(results.ClientEOF, full); got != minEvidenceWait {
		t.Errorf("never-logged class: wait %v, want %v", got, minEvidenceWait)
	}
	if got := w.limit(results.Proxy502, full); got != 8*time.Millisecond {
		t.Errorf("logged class: wait %v, want 4x the slowest arrival (8ms)", got)
	}
	if got := w.limit(results.OK, full); got != full {
		t.Errorf("unseen class: wait %v, want %v", got, full)
	}
}

// waitUntil never returns before its deadline, and returns early with the
// context's error when cancelled.
func TestWaitUntil(t *testing.T) {
	for _, d := range []time.Duration{0, 500 * time.Microsecond, 5 * time.Millisecond} {
		target := time.Now().Add(d)
		if err := waitUntil(context.Background(), target); err != nil {
			t.Fatal(err)
		}
		if now := time.Now(); now.Before(target) {
			t.Errorf("returned %v before the deadline", target.Sub(now))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := waitUntil(ctx, time.Now().Add(time.Minute)); err == nil || time.Since(start) > time.Second {
		t.Errorf("cancelled wait: err %v after %v", err, time.Since(start))
	}
}
