package lab

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
)

// On HAProxy the evidence barrier decides every trial: the SH-- line of
// each fresh-client 502 is there, no persistent-client victim has one
// (HAProxy logs nothing when it drops the connection), and the timed
// evidence wait never runs.
func TestEvidenceBarrierOnHAProxy(t *testing.T) {
	if err := Available(proxies.KindHAProxy); err != nil {
		t.Skipf("haproxy not installed (apt-get install haproxy): %v", err)
	}
	for _, tt := range []struct {
		client  string
		outcome results.Outcome
		flags   string
	}{
		{"persistent", results.ClientEOF, ""},
		{"fresh", results.Proxy502, "SH--"},
	} {
		t.Run(tt.client, func(t *testing.T) {
			sc := load(t, "name: barrier\nbase: {proxy: {kind: haproxy}, proxy_idle: 10s, backend_keepalive: 0s, gap: 0s, retry: \"off\", client: "+tt.client+"}\n")
			cells, err := sc.Cells()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cr := &cellRun{cell: &cells[0], cfg: newConfig(nil), rec: backends.NewRecorder(), gap: cells[0].Gap, proxyIdle: cells[0].ProxyIdle}
			defer func() {
				if err := cr.stop(); err != nil {
					t.Error(err)
				}
			}()
			if err := cr.start(ctx); err != nil {
				t.Fatal(err)
			}
			if cr.syncPath == "" {
				t.Fatal("the rendered HAProxy configuration has no evidence barrier")
			}
			rng := rand.New(rand.NewPCG(1, 1))
			for seq := 0; seq < 30; seq++ {
				rec, err := cr.trial(ctx, seq, rng)
				if err != nil {
					t.Fatal(err)
				}
				if rec.Outcome != tt.outcome || !rec.Attributed {
					t.Fatalf("trial %d: outcome %s (attributed %v), want attributed %s", seq, rec.Outcome, rec.Attributed, tt.outcome)
				}
				switch {
				case tt.flags == "" && len(rec.Proxy) != 0:
					t.Errorf("trial %d: evidence %+v for a dropped connection", seq, rec.Proxy)
				case tt.flags != "" && (len(rec.Proxy) != 1 || rec.Proxy[0].Flags != tt.flags):
					t.Errorf("trial %d: evidence %+v, want one line with %s", seq, rec.Proxy, tt.flags)
				}
			}
			if cr.waits.seen != nil {
				t.Errorf("the timed evidence wait ran: %v", cr.waits.seen)
			}
		})
	}
}

// A victim answered 200 over a new connection, with the pooled one's close
// recorded only later (the proxy retired it lazily as the request came, and
// the backend goroutine that reads its FIN ran late on a loaded machine):
// the trial waits for that close instead of reading its absence as a proxy
// that kept the pooled connection open (not_reused). A 200 over the pooled
// connection itself waits for nothing.
func TestSettleWaitsForTheRetiredPooledClose(t *testing.T) {
	newRun := func() *cellRun {
		return &cellRun{rec: backends.NewRecorder(), cfg: &config{settle: DefaultSettle}}
	}
	late := 60 * time.Millisecond
	if late <= DefaultSettle || late >= reuseSettle {
		t.Fatalf("the close must come after the settle time and within the reuse settle time")
	}

	cr := newRun()
	cr.rec.Observe(backends.Event{Kind: backends.EventRequest, ConnID: 2, RequestID: "v", Time: time.Now()})
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		time.Sleep(late)
		cr.rec.Observe(backends.Event{Kind: backends.EventClose, ConnID: 1, Closer: backends.CloserPeer, Time: time.Now()})
	}()
	pc, err := cr.settlePooledClose(t.Context(), 1, "v", 200)
	<-closed
	if err != nil {
		t.Fatal(err)
	}
	if pc == nil || pc.ConnID != 1 {
		t.Fatalf("pooled close %+v, want conn 1's close, recorded %v after the answer", pc, late)
	}

	cr = newRun()
	cr.rec.Observe(backends.Event{Kind: backends.EventRequest, ConnID: 1, RequestID: "v", Time: time.Now()})
	// No wait at all: a canceled context is never looked at.
	done, cancel := context.WithCancel(t.Context())
	cancel()
	pc, err = cr.settlePooledClose(done, 1, "v", 200)
	if err != nil || pc != nil {
		t.Fatalf("a 200 over the pooled connection: close %+v, err %v; want none, at once", pc, err)
	}
	if _, err := cr.settlePooledClose(done, 1, "v", 502); err == nil {
		t.Fatal("a 502 with no close recorded did not wait for one")
	}

	// Kept open: the wait ends at its bound with no close.
	cr = newRun()
	cr.rec.Observe(backends.Event{Kind: backends.EventRequest, ConnID: 2, RequestID: "v", Time: time.Now()})
	began := time.Now()
	pc, err = cr.settlePooledClose(t.Context(), 1, "v", 200)
	if err != nil || pc != nil {
		t.Fatalf("pooled close %+v, err %v: want none", pc, err)
	}
	if waited := time.Since(began); waited < reuseSettle {
		t.Errorf("gave up on the pooled close after %v, want %v", waited, reuseSettle)
	}
}

// A proxy whose lines come through a log reader of its own (Varnish's
// varnishncsa) and that has no evidence barrier gets a second for each
// victim's line; a barrier, or lines of the proxy's own, keep the usual
// wait.
func TestEvidenceWaitForALogReader(t *testing.T) {
	cr := &cellRun{cfg: &config{evidenceWait: DefaultEvidenceWait}}
	if got := cr.evidenceWait(); got != DefaultEvidenceWait {
		t.Errorf("own lines: wait %v, want %v", got, DefaultEvidenceWait)
	}
	cr.logReader = true
	if got := cr.evidenceWait(); got != readerEvidenceWait {
		t.Errorf("a log reader: wait %v, want %v", got, readerEvidenceWait)
	}
	cr.syncPath = "/sync"
	if got := cr.evidenceWait(); got != DefaultEvidenceWait {
		t.Errorf("a log reader behind a barrier: wait %v, want %v", got, DefaultEvidenceWait)
	}
}
