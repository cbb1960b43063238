package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/results"
	"github.com/racelab/racelab/scenarios"
)

// client is a raw HTTP/1.1 client. net/http.Client silently retries a
// GET whose keep-alive connection closed without a response, which hides
// exactly the failures racelab measures; this one never retries and
// reports what the connection did.
type client struct {
	addr       string
	persistent bool
	// route is where a user's proxy configuration sends requests to the
	// upstream under test (zero: racelab's own configs, any path).
	route  proxies.Route
	conn   net.Conn
	br     *bufio.Reader
	dialer net.Dialer
	// Reconnects counts persistent connections that had to be replaced.
	Reconnects int
}

func newClient(addr string, persistent bool) *client {
	return &client{addr: addr, persistent: persistent, dialer: net.Dialer{Timeout: 5 * time.Second}}
}

// request is a prepared request: its bytes are built before the send
// instant so that nothing but the write sits on the timing path.
type request struct {
	id     string
	method string
	raw    []byte
	// body, when set, is sent slowly after raw (the headers, which then
	// announce its length).
	body *scenarios.CellBody
}

// request prepares request id for the client's proxy: under the route of
// a user's configuration when there is one, else at backends.PathPrefix.
func (c *client) request(id, method string, fault backends.FaultKind) request {
	path, host := backends.PathPrefix+id, "racelab"
	if c.route.Path != "" {
		path = c.route.RequestPath(id)
	}
	if c.route.Host != "" {
		host = c.route.Host
	}
	return newRequest(id, method, fault, path, host)
}

func newRequest(id, method string, fault backends.FaultKind, path, host string) request {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n%s: %s\r\nUser-Agent: racelab\r\n", method, path, host, backends.RequestIDHeader, id)
	if fault != backends.FaultNone {
		fmt.Fprintf(&b, "%s: %s\r\n", backends.FaultHeader, fault)
	}
	body := ""
	if method != "GET" && method != "HEAD" && method != "OPTIONS" && method != "DELETE" && method != "TRACE" {
		body = "racelab request " + id + "\n"
		fmt.Fprintf(&b, "Content-Type: text/plain\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return request{id: id, method: method, raw: []byte(b.String())}
}

// response is what one exchange produced.
type response struct {
	Status int
	// Sent is the instant the request write began; Done when the response
	// (or the failure) arrived.
	Sent, Done time.Time
	Err        error
	Class      results.Outcome // set for transport failures
}

// ensure opens a connection when there is none (or in fresh mode).
func (c *client) ensure(ctx context.Context) error {
	if c.conn != nil && c.persistent {
		return nil
	}
	c.close()
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return fmt.Errorf("dial proxy: %w", err)
	}
	c.conn, c.br = conn, bufio.NewReader(conn)
	return nil
}

// checkAlive replaces a persistent connection that the proxy closed while
// it sat idle, so that a client-side idle close is never mistaken for the
// upstream race. It never blocks (a non-blocking peek, no timer), so it
// can run just before the send.
func (c *client) checkAlive(ctx context.Context) error {
	if c.conn == nil || !c.persistent {
		return c.ensure(ctx)
	}
	if c.br.Buffered() == 0 && peekAlive(c.conn) {
		return nil
	}
	c.close()
	c.Reconnects++
	return c.ensure(ctx)
}

// do sends req and reads the response, bounded by timeout.
func (c *client) do(ctx context.Context, req request, timeout time.Duration) response {
	return c.doThen(ctx, req, timeout, nil)
}

// doThen is do with afterWrite called once the request is written, before
// the response is read.
func (c *client) doThen(ctx context.Context, req request, timeout time.Duration, afterWrite func()) response {
	var r response
	if err := c.ensure(ctx); err != nil {
		r.Sent, r.Done, r.Err, r.Class = time.Now(), time.Now(), err, classifyErr(err, false)
		return r
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.conn.SetDeadline(deadline)
	r.Sent = time.Now()
	if _, err := c.conn.Write(req.raw); err != nil {
		r.Done, r.Err, r.Class = time.Now(), fmt.Errorf("write request: %w", err), classifyErr(err, false)
		c.close()
		return r
	}
	if req.body != nil {
		// A proxy that gives up on the request (a 502) may stop reading
		// the body: what it answered is read below all the same.
		_ = sendBody(ctx, c.conn, req.body, r.Sent)
	}
	if afterWrite != nil {
		afterWrite()
	}
	// http.ReadResponse reports a connection closed before any byte as
	// io.ErrUnexpectedEOF; peek first so that "no response at all" (a
	// proxy dropping the client connection) is told apart from a response
	// cut short.
	if _, err := c.br.Peek(1); err != nil {
		r.Done, r.Err, r.Class = time.Now(), fmt.Errorf("read response: %w", err), classifyErr(err, false)
		c.close()
		return r
	}
	resp, err := http.ReadResponse(c.br, &http.Request{Method: req.method})
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	r.Done = time.Now()
	if err != nil {
		partial := resp != nil || errors.Is(err, io.ErrUnexpectedEOF)
		r.Err, r.Class = fmt.Errorf("read response: %w", err), classifyErr(err, partial)
		if resp != nil {
			r.Status = resp.StatusCode
		}
		c.close()
		return r
	}
	r.Status = resp.StatusCode
	if !c.persistent || resp.Close {
		c.close()
	} else {
		_ = c.conn.SetDeadline(time.Time{})
	}
	return r
}

func (c *client) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

// classifyErr maps a transport error to an outcome class.
func classifyErr(err error, partial bool) results.Outcome {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return results.ClientTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return results.ClientReset
	case errors.Is(err, io.EOF) && !partial:
		return results.ClientEOF
	}
	return results.Other
}

// statusOutcome maps a proxy status to an outcome class.
func statusOutcome(status int) results.Outcome {
	switch {
	case status == 502:
		return results.Proxy502
	case status == 503:
		return results.Proxy503
	case status == 504:
		return results.Proxy504
	case status >= 500:
		return results.Other
	}
	return results.OK
}

// bodyChunk is how much of a slow body goes out at once.
const bodyChunk = 16 << 10

// withBody makes req announce and carry b: its headers end with the
// body's Content-Length, and the body follows slowly (sendBody).
func (req request) withBody(b *scenarios.CellBody) request {
	head, _, _ := strings.Cut(string(req.raw), "\r\n\r\n")
	var lines []string
	for _, l := range strings.Split(head, "\r\n") {
		if k, _, ok := strings.Cut(l, ":"); ok && (strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Content-Type")) {
			continue
		}
		lines = append(lines, l)
	}
	lines = append(lines, "Content-Type: application/octet-stream", fmt.Sprintf("Content-Length: %d", b.Size))
	req.raw = []byte(strings.Join(lines, "\r\n") + "\r\n\r\n")
	req.body = b
	return req
}

// sendBody writes b after the headers that went out at start: all of it
// after b.Delay, or in bodyChunk pieces paced at b.Rate bytes a second.
func sendBody(ctx context.Context, conn net.Conn, b *scenarios.CellBody, start time.Time) error {
	if b.Delay > 0 {
		if err := sleepCtx(ctx, b.Delay); err != nil {
			return err
		}
	}
	chunk := make([]byte, bodyChunk)
	for i := range chunk {
		chunk[i] = 'r'
	}
	sent := int64(0)
	for sent < b.Size {
		if b.Rate > 0 {
			due := start.Add(b.Delay + time.Duration(float64(sent)/float64(b.Rate)*float64(time.Second)))
			if err := sleepCtx(ctx, time.Until(due)); err != nil {
				return err
			}
		}
		n := min(int64(len(chunk)), b.Size-sent)
		if _, err := conn.Write(chunk[:n]); err != nil {
			return fmt.Errorf("write body: %w", err)
		}
		sent += n
	}
	return nil
}
