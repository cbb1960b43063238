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
