package goproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// DefaultIdleTimeout is Go's Transport default, used when the spec leaves
// the idle timeout at 0.
const DefaultIdleTimeout = 90 * time.Second

// maxReplayBody bounds the request body buffered for RetryAll.
const maxReplayBody = 1 << 20

// Proxy is a running embedded proxy. It implements proxies.Instance.
type Proxy struct {
	srv       *http.Server
	ln        net.Listener
	transport *http.Transport
	evidence  *proxies.EvidenceLog
	spec      proxies.Spec
	done      chan struct{}
	stopOnce  sync.Once
	stopErr   error
}

// Start runs an httputil.ReverseProxy in this process with exactly one
// pooled upstream connection (MaxConnsPerHost 1, MaxIdleConnsPerHost 1)
// and spec's idle timeout. It listens on spec.Listen ("127.0.0.1:0" picks
// a port) and returns once the listener exists.
//
// Retry policies map onto Go's Transport honestly:
//   - idempotent: Go's own behaviour. The Transport retries, by itself, a
//     request whose reused connection failed if it is replayable: GET,
//     HEAD, OPTIONS, TRACE without a body. A POST is not retried.
//   - off: Go's automatic retry is defeated by giving every outgoing
//     request a non-replayable (empty) body, so a failure on a reused
//     connection surfaces as a 502.
//   - all: Go's behaviour plus one retry of any method, its body buffered
//     (up to 1 MiB), when the attempt failed on a reused connection.
func Start(ctx context.Context, spec proxies.Spec) (*Proxy, error) {
	if spec.Listen == "" {
		spec.Listen = "127.0.0.1:0"
	}
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("start go proxy: %w", err)
	}
	target, err := url.Parse("http://" + spec.Upstream)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("start go proxy: upstream %q: want host:port", spec.Upstream)
	}
	idle := spec.IdleTimeout
	if idle == 0 || spec.Variant == proxies.VariantDefaults {
		idle = DefaultIdleTimeout
	}
	respTimeout := spec.ResponseTimeout
	if respTimeout == 0 {
		respTimeout = proxies.DefaultResponseTimeout
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: respTimeout}).DialContext,
		MaxConnsPerHost:       1,
		MaxIdleConns:          1,
		MaxIdleConnsPerHost:   1,
		IdleConnTimeout:       idle,
		ResponseHeaderTimeout: respTimeout,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
	}
	if spec.Variant == proxies.VariantDefaults {
		// Go's defaults: two idle connections per host, no connection cap.
		tr.MaxConnsPerHost, tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 0, 100, 0
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", spec.Listen)
	if err != nil {
		return nil, fmt.Errorf("start go proxy: %w", err)
	}
	p := &Proxy{ln: ln, transport: tr, evidence: proxies.NewEvidenceLog(), spec: spec, done: make(chan struct{})}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
		},
		Transport:    &retrier{base: tr, policy: spec.Retry},
		ErrorLog:     log.New(io.Discard, "", 0),
		ErrorHandler: p.errorHandler,
	}
	p.srv = &http.Server{
		Handler:           p.access(rp),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       10 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

// Addr is the client-facing address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Version is the Go runtime version the proxy runs on.
func (p *Proxy) Version() string { return strings.TrimPrefix(runtime.Version(), "go") }

// Evidence holds the proxy's access and error evidence.
func (p *Proxy) Evidence() *proxies.EvidenceLog { return p.evidence }

// Info reports manifest facts.
func (p *Proxy) Info() map[string]string {
	return map[string]string{"runtime": string(proxies.RuntimeEmbedded), "version": p.Version(), "implementation": "net/http/httputil.ReverseProxy"}
}

// Stop closes the listener, client connections and idle upstream
// connections. Idempotent.
func (p *Proxy) Stop(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.stopOnce.Do(func() {
		err := p.srv.Close()
		p.transport.CloseIdleConnections()
		select {
		case <-p.done:
		case <-ctx.Done():
			err = errors.Join(err, fmt.Errorf("stop go proxy: %w", ctx.Err()))
		}
		p.stopErr = err
	})
	return p.stopErr
}

// access records one access-evidence entry per request, with the number of
// upstream connection acquisitions (attempts) seen through httptrace.
func (p *Proxy) access(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var attempts atomic.Int32
		trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { attempts.Add(1) }}
		ctx := httptrace.WithClientTrace(r.Context(), trace)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(ctx))
		p.evidence.Add(proxies.Evidence{
			Source:    "access",
			RequestID: requestID(r),
			Status:    sw.status,
			Attempts:  int(attempts.Load()),
		})
	})
}

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	p.evidence.Add(proxies.Evidence{
		Source:    "error",
		RequestID: requestID(r),
		Status:    status,
		Message:   "http: proxy error: " + err.Error(),
	})
	w.WriteHeader(status)
}

func requestID(r *http.Request) string {
	if id := r.Header.Get(backends.RequestIDHeader); id != "" {
		return id
	}
	return strings.TrimPrefix(r.URL.Path, backends.PathPrefix)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// retrier applies the retry policy around Go's Transport.
type retrier struct {
	base   http.RoundTripper
	policy proxies.Retry
}

// emptyBody is a non-nil request body with nothing in it: Go's Transport
// does not treat a request carrying it as replayable.
type emptyBody struct{}

func (emptyBody) Read([]byte) (int, error) { return 0, io.EOF }
func (emptyBody) Close() error             { return nil }

func (rt *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	switch rt.policy {
	case proxies.RetryOff:
		if req.Body == nil || req.Body == http.NoBody {
			req.Body = emptyBody{}
		}
		req.GetBody = nil
		return rt.base.RoundTrip(req)
	case proxies.RetryAll:
		return rt.roundTripAll(req)
	}
	return rt.base.RoundTrip(req)
}

func (rt *retrier) roundTripAll(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxReplayBody+1))
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		if len(b) > maxReplayBody {
			return nil, fmt.Errorf("request body over %d bytes: not buffered for replay", maxReplayBody)
		}
		body = b
	}
	attempt := func() (*http.Response, bool, error) {
		r := req.Clone(req.Context())
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			r.ContentLength = int64(len(body))
		}
		var reused atomic.Bool
		trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused.Store(i.Reused) }}
		// WithClientTrace composes with the access trace already in ctx.
		ctx := httptrace.WithClientTrace(r.Context(), trace)
		resp, err := rt.base.RoundTrip(r.WithContext(ctx))
		return resp, reused.Load(), err
	}
	resp, reused, err := attempt()
	if err == nil || !reused || req.Context().Err() != nil {
		return resp, err
	}
	resp, _, err2 := attempt()
	if err2 != nil {
		return nil, errors.Join(err, err2)
	}
	return resp, nil
}
