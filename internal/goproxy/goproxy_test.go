package goproxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// exchange sends one raw request over a fresh client connection and
// returns the status (0 when the connection closed without a response).
func exchange(t *testing.T, addr, method, id string, fault backends.FaultKind) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := fmt.Sprintf("%s /r/%s HTTP/1.1\r\nHost: x\r\n%s: %s\r\n", method, id, backends.RequestIDHeader, id)
	if fault != "" {
		req += fmt.Sprintf("%s: %s\r\n", backends.FaultHeader, fault)
	}
	body := ""
	if method == "POST" {
		body = "payload"
		req += fmt.Sprintf("Content-Length: %d\r\n", len(body))
	}
	if _, err := c.Write([]byte(req + "\r\n" + body)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Each retry policy, against a backend that closes a reused connection
// without answering: what the client sees, and how often the request
// reached the backend.
func TestRetryPolicies(t *testing.T) {
	cases := []struct {
		retry    proxies.Retry
		method   string
		status   int
		arrivals int
	}{
		{proxies.RetryOff, "GET", 502, 1},
		{proxies.RetryOff, "POST", 502, 1},
		{proxies.RetryIdempotent, "GET", 200, 2},
		{proxies.RetryIdempotent, "POST", 502, 1},
		{proxies.RetryAll, "GET", 200, 2},
		{proxies.RetryAll, "POST", 200, 2},
	}
	for _, c := range cases {
		t.Run(string(c.retry)+"/"+c.method, func(t *testing.T) {
			ctx := context.Background()
			rec := backends.NewRecorder()
			be, err := backends.Start(ctx, backends.Config{Fault: backends.Fault{Kind: backends.FaultCloseOnReuse}}, backends.WithObserver(rec.Observe))
			if err != nil {
				t.Fatal(err)
			}
			defer be.Close()
			p, err := Start(ctx, proxies.Spec{Upstream: be.Addr(), Retry: c.retry, IdleTimeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop(ctx)
			if s := exchange(t, p.Addr(), "GET", "prime", ""); s != 200 {
				t.Fatalf("priming request: %d", s)
			}
			if s := exchange(t, p.Addr(), c.method, "victim", backends.FaultCloseOnReuse); s != c.status {
				t.Errorf("victim status %d, want %d", s, c.status)
			}
			arrivals := 0
			for _, e := range rec.ForRequest("victim") {
				if e.Kind == backends.EventRequest {
					arrivals++
				}
			}
			if arrivals != c.arrivals {
				t.Errorf("victim reached the backend %d times, want %d", arrivals, c.arrivals)
			}
			evs, _ := p.Evidence().Wait(ctx, "victim", "access")
			if len(evs) == 0 || !strings.Contains(fmt.Sprint(evs), "victim") {
				t.Errorf("no access evidence for the victim: %v", evs)
			}
			if c.status == 502 {
				found := false
				for _, e := range p.Evidence().ForRequest("victim") {
					found = found || (e.Source == "error" && strings.Contains(e.Message, "EOF"))
				}
				if !found {
					t.Errorf("no error evidence naming EOF: %v", p.Evidence().ForRequest("victim"))
				}
			}
		})
	}
}

// One pooled connection: sequential requests share one upstream connection.
func TestOnePooledConnection(t *testing.T) {
	ctx := context.Background()
	rec := backends.NewRecorder()
	be, err := backends.Start(ctx, backends.Config{}, backends.WithObserver(rec.Observe))
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	p, err := Start(ctx, proxies.Spec{Upstream: be.Addr(), Retry: proxies.RetryOff, IdleTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(ctx)
	for i := 0; i < 5; i++ {
		if s := exchange(t, p.Addr(), "GET", fmt.Sprint("r", i), ""); s != 200 {
			t.Fatalf("request %d: %d", i, s)
		}
	}
	accepts := 0
	for _, e := range rec.Events(0) {
		if e.Kind == backends.EventAccept {
			accepts++
		}
	}
	if accepts != 1 {
		t.Errorf("%d upstream connections for 5 sequential requests, want 1", accepts)
	}
}
