package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/wire"
	"github.com/racelab/racelab/results"
)

// WithWire turns the capture of the proxy↔backend traffic on lo on or
// off (default on). It needs root or CAP_NET_RAW; without them every
// failing record says "capture unavailable: …" in its wire evidence.
func WithWire(on bool) Option { return func(c *config) { c.wireOff = !on } }

// WithPcapDir writes, for every failing trial, the reused connection's
// packets (and those of any connection the request was retried on) to a
// pcap file in dir, named RUN_CELL_SEQ.pcap. It implies
// WithWire(true).
func WithPcapDir(dir string) Option {
	return func(c *config) { c.pcapDir, c.wireOff = dir, false }
}

// WireAvailable reports whether this process can capture on lo: nil, or
// an error that says why not ("capture unavailable: …").
func WireAvailable(ctx context.Context) error {
	c, err := wire.Start(ctx, wire.Config{Port: 9})
	if c != nil {
		err = errors.Join(err, c.Close())
	}
	return err
}

// cellWire is a cell's capture of its backend port.
type cellWire struct {
	capture *wire.Capture
	// unavailable says why there is no capture.
	unavailable string
	drops       int

	mu     sync.Mutex
	remote map[uint64]string // backend connection id → the proxy's address
	closed map[uint64]bool
}

// startWire starts the capture of the cell's backend port (cr.wire,
// made before the backend so its observer sees every accept), before the proxy opens
// its first connection. A capture that cannot start is not the cell's
// failure: its records say why there is no wire evidence.
func (cr *cellRun) startWire(ctx context.Context, upstream string) {
	cw := cr.wire
	if cw == nil {
		return
	}
	ap, err := netip.ParseAddrPort(upstream)
	if err == nil {
		cw.capture, err = wire.Start(ctx, wire.Config{Port: ap.Port()})
	}
	if err != nil {
		cw.unavailable = err.Error()
		if !errors.Is(err, wire.ErrUnavailable) {
			cw.unavailable = "capture unavailable: " + err.Error()
		}
		cr.cfg.logger.Warn("no wire evidence", "cell", cr.cell.ID, "err", err)
	}
}

// observeWire keeps the proxy's address of every backend connection.
func (cw *cellWire) observe(e backends.Event) {
	switch e.Kind {
	case backends.EventAccept:
		cw.mu.Lock()
		cw.remote[e.ConnID] = e.Remote
		cw.mu.Unlock()
	case backends.EventClose:
		cw.mu.Lock()
		cw.closed[e.ConnID] = true
		cw.mu.Unlock()
	}
}

func (cw *cellWire) remoteOf(id uint64) (netip.AddrPort, bool) {
	cw.mu.Lock()
	defer cw.mu.Unlock()
	ap, err := netip.ParseAddrPort(cw.remote[id])
	return ap, err == nil
}

// wireEvidence adds to a failing trial's record (and to a silently
// retried one's, and to a backend_5xx negative control's)
// what the wire showed of the connection the proxy reused: the pooled
// connection, or else the first one the victim went out on, or else the
// first one opened after it was sent. With a pcap directory the
// connection's packets go to a file. Connections that ended before the
// trial began are let go either way.
func (cr *cellRun) wireEvidence(ctx context.Context, rec *results.Record, pooled uint64, began, sent time.Time) {
	cw := cr.wire
	if cw == nil {
		return
	}
	defer cw.prune(began)
	if !rec.Outcome.Failed() && !rec.HiddenRetry && rec.Outcome != results.Backend5xx {
		return
	}
	if cw.capture == nil {
		rec.Wire = &results.WireEvidence{Unavailable: cw.unavailable}
		return
	}
	// Every packet that caused something this trial observed (the
	// backend's FIN or RST that made the proxy fail, the backend's answer,
	// a refused SYN) was queued on the capture's socket before the proxy's
	// socket saw it: the packet tap runs before TCP. Reading what is
	// queued now is enough; no barrier is sent (Sync), which would cost a
	// datagram and a wait per trial.
	err := cw.capture.Drain()
	if err != nil {
		rec.Wire = &results.WireEvidence{Unavailable: "capture unavailable: " + err.Error()}
		return
	}
	marker := wireMarker(rec.RequestID)
	var flows []wire.Flow
	if ap, ok := cw.remoteOf(pooled); pooled != 0 && ok {
		if f, ok := cw.capture.Flow(ap); ok {
			flows = append(flows, f)
		}
	}
	for _, f := range cw.capture.FlowsWith(marker) {
		if len(flows) == 0 || f.Proxy != flows[0].Proxy {
			flows = append(flows, f)
		}
	}
	if len(flows) == 0 {
		if fs := cw.capture.FlowsSince(sent); len(fs) > 0 {
			flows = fs[:1]
		}
	}
	w := results.WireEvidence{}
	if len(flows) > 0 {
		w = wire.Analyze(flows[0], wire.Victim{Sent: sent, Marker: marker, From: began})
	}
	if st := cw.capture.Stats(); st.KernelDrops > cw.drops {
		w.KernelDrops = st.KernelDrops - cw.drops
		cw.drops = st.KernelDrops
	}
	if cr.cfg.pcapDir != "" && rec.Outcome.Failed() && len(flows) > 0 {
		path := filepath.Join(cr.cfg.pcapDir, pcapName(rec.RunID, rec.Cell, rec.Seq))
		if err := wire.WritePcap(path, wire.DefaultSnapLen, flows...); err != nil {
			cr.cfg.logger.Warn("pcap not written", "cell", rec.Cell, "seq", rec.Seq, "err", err)
		} else {
			w.Pcap = path
		}
	}
	rec.Wire = &w
}

// prune reads what the capture has queued and lets go of the
// connections that ended before t.
func (cw *cellWire) prune(t time.Time) {
	if cw.capture != nil {
		_ = cw.capture.Drain() // a read error shows at the next Sync
		cw.capture.Prune(t)
	}
	cw.mu.Lock()
	for id := range cw.closed {
		delete(cw.remote, id)
		delete(cw.closed, id)
	}
	cw.mu.Unlock()
}

func (cw *cellWire) close() error {
	if cw == nil || cw.capture == nil {
		return nil
	}
	return cw.capture.Close()
}

// wireMarker is what only the victim's request carries on the wire: its
// request id header's value, whole (proxies may change the header name's
// case, never its value).
func wireMarker(id string) []byte { return []byte(": " + id + "\r\n") }

// pcapName is a trial's pcap file name: the run id, the cell id made safe
// for a file name, and the trial's sequence number, so that runs sharing
// a directory never overwrite each other's files.
func pcapName(run, cell string, seq int) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, cell)
	return fmt.Sprintf("%s_%s_%04d.pcap", run, safe, seq)
}

// preparePcapDir creates the pcap directory.
func preparePcapDir(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create pcap dir: %w", err)
	}
	return nil
}
