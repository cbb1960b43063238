package haproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
)

// IdleLifetimeBounds is the range of HAProxy's effective idle lifetime for
// a server connection under pool-purge-delay purge, as measured on HAProxy
// 2.6.12 with one idle connection (see the package documentation): the
// purge task runs every purge period and closes the connection at its
// third run after the last response at the latest, its second at the
// earliest, so the connection lives (2×purge, 3×purge] depending on where
// the last response falls in the period.
func IdleLifetimeBounds(purge time.Duration) (lo, hi time.Duration) {
	return 2 * purge, 3 * purge
}

// IdleLifetime is the result of MeasureIdleLifetime.
type IdleLifetime struct {
	// PurgeDelay is the configured pool-purge-delay (Spec.IdleTimeout).
	PurgeDelay time.Duration `json:"purge_delay"`
	// Samples are the measured lifetimes, in trial order: from the
	// backend writing a response to HAProxy closing the then idle
	// connection.
	Samples []time.Duration `json:"samples"`
	Min     time.Duration   `json:"min"`
	Median  time.Duration   `json:"median"`
	Max     time.Duration   `json:"max"`
	// Version is the HAProxy version measured.
	Version string `json:"version"`
}

// MeasureIdleLifetime measures how long HAProxy keeps an idle server
// connection when Spec.IdleTimeout (pool-purge-delay) is idle. It starts
// a backend that never closes idle connections and HAProxy (process
// runtime, opts apply) in front of it, then runs trials: one GET on a fresh
// client connection, and the time from the backend's response to HAProxy
// closing that server connection. Trial i first waits i/trials of a purge
// period, so the trials sample every phase of HAProxy's purge timer. Each
// trial is bounded by ctx and by 3×idle plus 10s.
func MeasureIdleLifetime(ctx context.Context, idle time.Duration, trials int, opts ...process.Option) (IdleLifetime, error) {
	res := IdleLifetime{PurgeDelay: idle}
	if idle <= 0 || trials < 1 {
		return res, errors.New("measure idle lifetime: want a positive idle timeout and at least one trial")
	}
	rec := backends.NewRecorder()
	be, err := backends.Start(ctx, backends.Config{}, backends.WithObserver(rec.Observe))
	if err != nil {
		return res, fmt.Errorf("measure idle lifetime: start backend: %w", err)
	}
	defer be.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, fmt.Errorf("measure idle lifetime: find a port: %w", err)
	}
	listen := ln.Addr().String()
	ln.Close()
	spec := proxies.Spec{
		Kind:        proxies.KindHAProxy,
		Listen:      listen,
		Upstream:    be.Addr(),
		IdleTimeout: idle,
		Retry:       proxies.RetryOff,
	}
	p, err := process.Start(ctx, Adapter{}, spec, opts...)
	defer func() { _ = p.Stop(context.WithoutCancel(ctx)) }()
	if err != nil {
		return res, fmt.Errorf("measure idle lifetime: %w", err)
	}
	res.Version = p.Version()

	for i := range trials {
		life, err := idleTrial(ctx, rec, p.Addr(), idle, time.Duration(i)*idle/time.Duration(trials), i)
		if err != nil {
			return res, fmt.Errorf("measure idle lifetime: trial %d: %w", i, err)
		}
		res.Samples = append(res.Samples, life)
	}
	sorted := slices.Clone(res.Samples)
	slices.Sort(sorted)
	res.Min, res.Max = sorted[0], sorted[len(sorted)-1]
	if n := len(sorted); n%2 == 1 {
		res.Median = sorted[n/2]
	} else {
		res.Median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return res, nil
}

// idleTrial waits shift, sends one request and returns how long after the
// backend's response HAProxy closed the server connection.
func idleTrial(ctx context.Context, rec *backends.Recorder, addr string, idle, shift time.Duration, n int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, shift+3*idle+10*time.Second)
	defer cancel()
	if shift > 0 {
		t := time.NewTimer(shift)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		}
	}
	from := rec.Len()
	id := "idle-lifetime-" + strconv.Itoa(n)
	if err := getOnce(ctx, addr, id); err != nil {
		return 0, err
	}
	resp, err := rec.Wait(ctx, from, func(e backends.Event) bool {
		return e.Kind == backends.EventResponse && e.RequestID == id
	})
	if err != nil {
		return 0, fmt.Errorf("wait for the response: %w", err)
	}
	closed, err := rec.Wait(ctx, from, func(e backends.Event) bool {
		return e.Kind == backends.EventClose && e.ConnID == resp.ConnID
	})
	if err != nil {
		return 0, fmt.Errorf("wait for the idle close: %w", err)
	}
	if closed.Closer != backends.CloserPeer {
		return 0, fmt.Errorf("connection closed by %s (%s), not by haproxy", closed.Closer, closed.Reason)
	}
	return closed.Time.Sub(resp.Time), nil
}

// getOnce sends one GET on a fresh connection and reads a 200 answer.
func getOnce(ctx context.Context, addr, id string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	req := "GET " + backends.PathPrefix + id + " HTTP/1.1\r\nHost: racelab\r\n" +
		backends.RequestIDHeader + ": " + id + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
