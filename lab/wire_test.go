package lab

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/wire"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// needWire skips when this process may not capture; the test script runs
// the suite as root, so in CI these tests always run.
func needWire(t *testing.T) {
	t.Helper()
	err := WireAvailable(context.Background())
	if err != nil && errors.Is(err, wire.ErrUnavailable) && os.Geteuid() != 0 {
		t.Skipf("%v: run the tests as root (scripts/test.sh does)", err)
	}
	require.NoError(t, err)
}

func wireProxies(t *testing.T) []proxies.Kind {
	kinds := []proxies.Kind{proxies.KindGo}
	for _, k := range []proxies.Kind{proxies.KindNginx, proxies.KindHAProxy} {
		if err := Available(k); err != nil {
			t.Logf("%s not installed (apt-get install nginx-light haproxy): %v", k, err)
			continue
		}
		kinds = append(kinds, k)
	}
	return kinds
}

// TestWireCloseOnReuse: on every proxy, each victim of close-on-reuse
// goes out on the pooled connection's 4-tuple (the priming request's),
// the backend's FIN is the first close on it, after the victim's first
// byte, with no response bytes; the wire alone attributes the failure,
// and the trial's pcap file holds both requests and the FIN for tshark.
func TestWireCloseOnReuse(t *testing.T) {
	needWire(t)
	tshark, terr := exec.LookPath("tshark")
	for _, kind := range wireProxies(t) {
		t.Run(string(kind), func(t *testing.T) {
			dir := t.TempDir()
			_, all := runAll(t, "name: wire\nbase: {proxy: {kind: "+string(kind)+"}, proxy_idle: 10s, backend_keepalive: 0s, gap: 0s, retry: \"off\", client: fresh, trials: 4}\n", WithPcapDir(dir))
			recs := all["default"]
			if len(recs) == 0 {
				for id := range all {
					recs = all[id]
				}
			}
			require.Len(t, recs, 4)
			for _, r := range recs {
				require.True(t, r.Attributed, "seq %d: %s %s", r.Seq, r.Outcome, r.Attribution)
				w := r.Wire
				require.NotNil(t, w, "seq %d: an attributed failure carries wire evidence", r.Seq)
				require.Empty(t, w.Unavailable)
				assert.Equal(t, "backend", w.FirstClose, "seq %d: %+v", r.Seq, w.Events)
				assert.Equal(t, "fin", w.CloseKind)
				require.NotNil(t, w.CloseSinceRequestNS)
				assert.GreaterOrEqual(t, *w.CloseSinceRequestNS, int64(0), "close-on-reuse reads the request, then closes")
				assert.Positive(t, w.RequestBytes)
				assert.Zero(t, w.ResponseBytes)
				ok, why := AttributeWire(w, DefaultAttributionWindow)
				assert.True(t, ok, why)
				require.NotEmpty(t, w.Pcap)
				require.FileExists(t, w.Pcap)
				if terr != nil || r.Seq > 0 {
					continue // tshark takes seconds to start: the first file is read
				}
				out, err := exec.Command(tshark, "-r", w.Pcap, "-T", "fields", "-e", "tcp.stream", "-e", "http.request.uri", "-e", "tcp.flags.fin", "-e", "tcp.srcport").Output()
				require.NoError(t, err, "tshark -r %s", w.Pcap)
				text := string(out)
				prime, victim := strings.Replace(r.RequestID, "-v", "-p", 1), r.RequestID
				assert.Contains(t, text, "/r/"+prime, "the priming request went out on the same connection")
				assert.Contains(t, text, "/r/"+victim)
				streams := map[string]bool{}
				for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
					streams[strings.SplitN(line, "\t", 2)[0]] = true
				}
				assert.Len(t, streams, 1, "one 4-tuple: %s", text)
			}
			if terr != nil {
				t.Log("tshark not installed (apt-get install tshark): pcap files not read back")
			}
		})
	}
}

// TestWireNegativeControls: a backend that answers 502 shows its answer
// and no close on the wire; a dead backend refuses the connection, and
// no request byte goes out. Neither is the race, on the wire either.
func TestWireNegativeControls(t *testing.T) {
	needWire(t)
	for _, tt := range []struct {
		name, backend string
		outcome       results.Outcome
	}{
		{"backend 502", "{response_status: 502}", results.Backend5xx},
		{"dead backend", "{down: true}", results.Proxy502},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, all := runAll(t, "name: neg\nbase: {proxy_idle: 10s, backend_keepalive: 20s, gap: 0s, client: fresh, trials: 3, backend: "+tt.backend+"}\n")
			for _, recs := range all {
				require.Len(t, recs, 3)
				for _, r := range recs {
					require.Equal(t, tt.outcome, r.Outcome, r.Attribution)
					require.False(t, r.Attributed)
					w := r.Wire
					require.NotNil(t, w, "seq %d", r.Seq)
					require.Empty(t, w.Unavailable)
					ok, why := AttributeWire(w, DefaultAttributionWindow)
					assert.False(t, ok, "seq %d: %s", r.Seq, why)
					switch tt.outcome {
					case results.Backend5xx:
						assert.Positive(t, w.ResponseBytes, "the backend's answer is on the wire")
						assert.NotEqual(t, "backend", w.FirstClose)
						assert.False(t, w.RequestIntoClosed)
					default:
						assert.Zero(t, w.RequestBytes, "no request byte reached a dead backend")
						assert.Equal(t, "backend", w.FirstClose)
						assert.Equal(t, "rst", w.CloseKind, "the kernel refuses the SYN")
						assert.Nil(t, w.CloseSinceRequestNS)
					}
				}
			}
		})
	}
}

// TestWireNaturalRace runs the race window on every proxy: every
// attributed failure's wire evidence agrees with the backend's (the
// backend closed first, nothing answered), and a backend FIN that went
// out before the request's first byte is followed by the request reaching
// the closed socket (the backend's RST). How many victims met a FIN
// already on the wire is logged: it depends on where in the window each
// landed.
func TestWireNaturalRace(t *testing.T) {
	needWire(t)
	for _, kind := range wireProxies(t) {
		t.Run(string(kind), func(t *testing.T) {
			_, all := runAll(t, "name: natural\nbase: {proxy: {kind: "+string(kind)+"}, mode: timing, proxy_idle: 500ms, backend_keepalive: 50ms, sweep: {from: -250us, to: 1ms, step: 250us}, trials: 30}\n")
			var attributed, finFirst, unsent, late int
			for _, recs := range all {
				for _, r := range recs {
					if !r.Attributed {
						continue
					}
					attributed++
					w := r.Wire
					require.NotNil(t, w)
					require.Empty(t, w.Unavailable)
					assert.Equal(t, "backend", w.FirstClose, "seq %d: %+v", r.Seq, w.Events)
					assert.Zero(t, w.ResponseBytes)
					ok, why := AttributeWire(w, DefaultAttributionWindow)
					if w.RequestBytes == 0 {
						// The proxy saw the FIN as it took the connection
						// and failed the request without writing it: the
						// race, but the wire alone cannot name the
						// connection.
						unsent++
						assert.False(t, ok, why)
						continue
					}
					if !ok && lateClose(r, w) {
						// The backend's idle timer fired before the
						// request came, but a loaded machine ran its close
						// later than the wire's window: the request sat
						// unread until then. The backend's own evidence
						// attributes it; the wire alone cannot.
						late++
						t.Logf("seq %d: backend close ran late over the unread request: %s", r.Seq, why)
						continue
					}
					assert.True(t, ok, "seq %d: %s", r.Seq, why)
					if w.CloseSinceRequestNS != nil && *w.CloseSinceRequestNS < 0 && w.CloseKind == "fin" {
						finFirst++
						assert.True(t, w.RequestIntoClosed, "seq %d: FIN, then the request: the backend must answer it with RST: %+v", r.Seq, w.Events)
					}
				}
			}
			t.Logf("%d attributed failures: %d with the backend's FIN before the request's first byte, %d never written to the pooled connection, %d closed late over the unread request", attributed, finFirst, unsent, late)
			require.Positive(t, attributed, "the natural race bites within the window")
			assert.LessOrEqual(t, late*2, attributed, "most closes come within the wire's window; only a loaded machine's late timer falls outside it")
		})
	}
}

// TestWireOff: without capture no record carries wire evidence.
func TestWireOff(t *testing.T) {
	_, all := runAll(t, "name: off\nbase: {proxy_idle: 10s, backend_keepalive: 0s, gap: 0s, trials: 2}\n", WithWire(false))
	for _, recs := range all {
		for _, r := range recs {
			assert.Nil(t, r.Wire)
		}
	}
}

// TestWireBoundedInLongRuns: the capture lets go of every connection
// whose trial is recorded, so a long cell holds a few connections, not
// one per trial.
func TestWireBoundedInLongRuns(t *testing.T) {
	needWire(t)
	sc := load(t, "name: long\nbase: {proxy_idle: 10s, backend_keepalive: 0s, gap: 0s, retry: \"off\", client: fresh}\n")
	cells, err := sc.Cells()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cr := &cellRun{cell: &cells[0], cfg: newConfig(nil), rec: backends.NewRecorder(), gap: cells[0].Gap, proxyIdle: cells[0].ProxyIdle}
	defer func() { assert.NoError(t, cr.stop()) }()
	require.NoError(t, cr.start(ctx))
	rng := rand.New(rand.NewPCG(1, 1))
	const trials = 60
	for seq := 0; seq < trials; seq++ {
		rec, err := cr.trial(ctx, seq, rng)
		require.NoError(t, err)
		require.True(t, rec.Attributed)
		require.NotNil(t, rec.Wire)
		require.Equal(t, "backend", rec.Wire.FirstClose)
	}
	st := cr.wire.capture.Stats()
	assert.LessOrEqual(t, st.Conns, 4, "connections held after %d trials: %+v", trials, st)
	assert.Zero(t, st.Evicted, "nothing had to be evicted")
	assert.GreaterOrEqual(t, st.Packets, trials*8, "every trial's packets were seen")
	cr.wire.mu.Lock()
	defer cr.wire.mu.Unlock()
	assert.LessOrEqual(t, len(cr.wire.remote), 4, "backend connections remembered")
}

// lateClose: the backend closed the reused connection with the request
// unread in its receive buffer, after the wire attribution's window: its
// idle timer ran late.
func lateClose(r results.Record, w *results.WireEvidence) bool {
	c := r.Backend.Close
	return c != nil && c.UnreadBytes > 0 && c.Closer == backends.CloserBackend &&
		w.CloseSinceRequestNS != nil && time.Duration(*w.CloseSinceRequestNS) > DefaultAttributionWindow
}
