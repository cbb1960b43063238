package probe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Defaults of Measure.
const (
	DefaultSamples         = 3
	DefaultMaxWait         = 10 * time.Minute
	DefaultMaxRequests     = 100
	DefaultResponseTimeout = 10 * time.Second
	// MaxSamples bounds the samples (and so the connections) of one
	// measurement.
	MaxSamples = 50
	// MaxMaxRequests bounds the requests sent on one connection to find
	// the maximum requests per connection.
	MaxMaxRequests = 10000
)

// Close is how a server closed the idle connection.
type Close string

// Close styles.
const (
	CloseFIN Close = "fin" // an orderly close: the read returned end of stream
	CloseRST Close = "rst" // an abort: the read returned ECONNRESET
)

// Option configures Measure.
type Option func(*config)

type config struct {
	samples     int
	maxWait     time.Duration
	maxRequests int
	respTimeout time.Duration
	progress    func(string)
	every       time.Duration
	stagger     time.Duration
}

// WithSamples sets how many idle closes to measure (default
// DefaultSamples, at most MaxSamples), each on its own connection, all at
// once.
func WithSamples(n int) Option { return func(c *config) { c.samples = n } }

// WithMaxWait bounds the wait for the idle close (default DefaultMaxWait).
// A server still holding the connection then gives a result with
// NeverClosed set.
func WithMaxWait(d time.Duration) Option { return func(c *config) { c.maxWait = d } }

// WithMaxRequests sets how many requests at most go back to back on one
// connection to find the server's maximum requests per connection
// (default DefaultMaxRequests; 0 skips the check).
func WithMaxRequests(n int) Option { return func(c *config) { c.maxRequests = n } }

// WithResponseTimeout bounds the connect and every response (default
// DefaultResponseTimeout).
func WithResponseTimeout(d time.Duration) Option { return func(c *config) { c.respTimeout = d } }

// DefaultStagger is the time between the starts of two samples.
const DefaultStagger = 50 * time.Millisecond

// WithStagger sets the time between the starts of two samples (default
// DefaultStagger). Samples run at once but not in step: their idle
// closes fall apart, so a stall of the machine (a busy core, a garbage
// collection) delays one of them, which the median then leaves out,
// rather than all of them alike.
func WithStagger(d time.Duration) Option { return func(c *config) { c.stagger = d } }

// WithProgress calls f every few seconds while the probe waits for idle
// closes, with a line saying how long it has waited.
func WithProgress(f func(string)) Option { return func(c *config) { c.progress = f } }

// withProgressEvery sets how often progress is reported, for tests.
func withProgressEvery(d time.Duration) Option { return func(c *config) { c.every = d } }

// Unreachable is an error of the target: nothing listens, or what
// answers is not an HTTP/1.1 server.
type Unreachable struct{ Err error }

func (e *Unreachable) Error() string { return e.Err.Error() }
func (e *Unreachable) Unwrap() error { return e.Err }

// Measure probes rawURL: Samples idle closes at once, each on a fresh
// connection, and the maximum requests per connection on another. See
// the package documentation. ctx cancels every wait.
func Measure(ctx context.Context, rawURL string, opts ...Option) (*Result, error) {
	c := config{samples: DefaultSamples, maxWait: DefaultMaxWait, maxRequests: DefaultMaxRequests,
		respTimeout: DefaultResponseTimeout, every: 5 * time.Second, stagger: DefaultStagger}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case c.samples < 1 || c.samples > MaxSamples:
		return nil, fmt.Errorf("probe: %d samples: want 1 to %d", c.samples, MaxSamples)
	case c.maxWait <= 0:
		return nil, fmt.Errorf("probe: max wait %v: want a positive duration", c.maxWait)
	case c.maxRequests < 0 || c.maxRequests > MaxMaxRequests:
		return nil, fmt.Errorf("probe: max requests %d: want 0 to %d", c.maxRequests, MaxMaxRequests)
	case c.stagger < 0 || c.stagger > time.Second:
		return nil, fmt.Errorf("probe: stagger %v: want 0 to 1s", c.stagger)
	case c.respTimeout <= 0:
		return nil, fmt.Errorf("probe: response timeout %v: want a positive duration", c.respTimeout)
	}
	t, err := ParseTarget(rawURL)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := &Result{URL: t.URL, MaxWait: c.maxWait, MaxRequestsTried: c.maxRequests}
	samples := make([]Sample, c.samples)
	errs := make([]error, c.samples+1)
	var wg sync.WaitGroup
	for i := range samples {
		wg.Go(func() {
			if err := sleep(ctx, time.Duration(i)*c.stagger); err != nil {
				errs[i] = err
				return
			}
			samples[i], errs[i] = idleSample(ctx, t, &c)
			if errs[i] != nil {
				cancel()
			}
		})
	}
	if c.maxRequests > 0 {
		wg.Go(func() {
			res.MaxRequests, res.MaxRequestsClose, errs[c.samples] = maxRequests(ctx, t, &c)
			if errs[c.samples] != nil {
				cancel()
			}
		})
	}
	stop := reportProgress(&c, &wg)
	wg.Wait()
	stop()
	if err := firstError(errs); err != nil {
		return nil, err
	}
	res.Samples = samples
	res.summarise()
	return res, nil
}

// firstError picks the error to report: a target error before the
// cancellations it caused in the other samples.
func firstError(errs []error) error {
	var first error
	for _, err := range errs {
		var u *Unreachable
		if errors.As(err, &u) {
			return err
		}
		if first == nil && err != nil {
			first = err
		}
	}
	return first
}

// reportProgress calls the progress function every c.every until stop.
func reportProgress(c *config, wg *sync.WaitGroup) (stop func()) {
	if c.progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var finished sync.WaitGroup
	began := time.Now()
	finished.Go(func() {
		tick := time.NewTicker(c.every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				c.progress(fmt.Sprintf("waited %s for the idle close (at most %s)", time.Since(began).Round(time.Second), c.maxWait))
			}
		}
	})
	return func() { close(done); finished.Wait() }
}

// exchange is one request and its response on a connection.
type exchange struct {
	conn net.Conn
	br   *bufio.Reader
	t    Target
}

func dial(ctx context.Context, t Target, timeout time.Duration) (*exchange, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Unreachable{fmt.Errorf("probe %s: connect: %w", t.URL, err)}
	}
	return &exchange{conn: conn, br: bufio.NewReader(conn), t: t}, nil
}

// roundTrip sends one GET and reads the whole response; done is the
// instant its last byte was read.
func (x *exchange) roundTrip(timeout time.Duration) (resp *http.Response, done time.Time, err error) {
	_ = x.conn.SetDeadline(time.Now().Add(timeout))
	req := "GET " + x.t.Path + " HTTP/1.1\r\nHost: " + x.t.Host + "\r\nUser-Agent: racelab-probe\r\nAccept: */*\r\n\r\n"
	if _, err := io.WriteString(x.conn, req); err != nil {
		return nil, time.Time{}, err
	}
	resp, err = http.ReadResponse(x.br, nil)
	if err != nil {
		return nil, time.Time{}, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	done = time.Now()
	resp.Body.Close()
	return resp, done, err
}

// notHTTP wraps the failure of a first exchange.
func notHTTP(t Target, err error) error {
	if os.IsTimeout(err) {
		return &Unreachable{fmt.Errorf("probe %s: no HTTP response: %w", t.URL, err)}
	}
	return &Unreachable{fmt.Errorf("probe %s: not an HTTP/1.1 server: %w", t.URL, err)}
}

// idleSample measures one idle close.
func idleSample(ctx context.Context, t Target, c *config) (Sample, error) {
	x, err := dial(ctx, t, c.respTimeout)
	if err != nil {
		return Sample{}, err
	}
	defer x.conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = x.conn.SetDeadline(time.Now()) })
	defer stop()
	resp, end, err := x.roundTrip(c.respTimeout)
	if err != nil {
		if ctx.Err() != nil {
			return Sample{}, ctx.Err()
		}
		return Sample{}, notHTTP(t, err)
	}
	s := Sample{Status: resp.StatusCode, Proto: resp.Proto}
	if resp.Close {
		// "Connection: close", or HTTP/1.0 without keep-alive.
		s.NoKeepAlive = true
		return s, nil
	}
	s.Trailing = x.br.Buffered()
	_ = x.conn.SetDeadline(end.Add(c.maxWait))
	buf := make([]byte, 4096)
	for {
		n, err := x.conn.Read(buf)
		at := time.Now()
		s.Trailing += n
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
			s.Idle, s.Close = at.Sub(end), CloseFIN
			return s, nil
		case errors.Is(err, syscall.ECONNRESET):
			s.Idle, s.Close = at.Sub(end), CloseRST
			return s, nil
		case ctx.Err() != nil:
			return Sample{}, ctx.Err()
		case os.IsTimeout(err):
			s.NeverClosed = true
			return s, nil
		default:
			return Sample{}, fmt.Errorf("probe %s: wait for the idle close: %w", t.URL, err)
		}
	}
}

// maxRequests sends requests back to back on one connection until the
// server closes it or c.maxRequests were answered. It returns how many
// were answered and how the server ended the connection ("" when it did
// not).
func maxRequests(ctx context.Context, t Target, c *config) (int, string, error) {
	x, err := dial(ctx, t, c.respTimeout)
	if err != nil {
		return 0, "", err
	}
	defer x.conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = x.conn.SetDeadline(time.Now()) })
	defer stop()
	for i := 1; i <= c.maxRequests; i++ {
		resp, _, err := x.roundTrip(c.respTimeout)
		switch {
		case ctx.Err() != nil:
			return 0, "", ctx.Err()
		case err != nil && i == 1:
			return 0, "", notHTTP(t, err)
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return i - 1, "closed without Connection: close (fin)", nil
		case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE):
			return i - 1, "closed without Connection: close (rst)", nil
		case err != nil:
			return 0, "", fmt.Errorf("probe %s: request %d on one connection: %w", t.URL, i, err)
		case resp.Close:
			return i, "Connection: close", nil
		}
	}
	return c.maxRequests, "", nil
}

// median of sorted durations.
func median(sorted []time.Duration) time.Duration {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// sortedCopy returns ds sorted.
func sortedCopy(ds []time.Duration) []time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
