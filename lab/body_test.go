package lab

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/scenarios"
)

// A slow body: the headers go out at once and announce the body's length;
// the body follows at its pace (rate) or after its delay, complete.
func TestSlowBodyPacing(t *testing.T) {
	tests := []struct {
		name string
		body scenarios.CellBody
	}{
		{"rate", scenarios.CellBody{Size: 256 << 10, Rate: 1 << 20}}, // 250ms
		{"delay", scenarios.CellBody{Size: 100_000, Delay: 100 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			type seen struct {
				headers, body time.Time
				length, n     int64
				err           error
			}
			got := make(chan seen, 1)
			go func() {
				var s seen
				defer func() { got <- s }()
				c, err := ln.Accept()
				if err != nil {
					s.err = err
					return
				}
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					s.err = err
					return
				}
				s.headers, s.length = time.Now(), req.ContentLength
				s.n, s.err = io.Copy(io.Discard, req.Body)
				s.body = time.Now()
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			}()
			cl := newClient(ln.Addr().String(), true)
			defer cl.close()
			req := cl.request("b-1", "POST", backends.FaultNone).withBody(&tt.body)
			resp := cl.do(context.Background(), req, 10*time.Second)
			s := <-got
			if s.err != nil || resp.Err != nil || resp.Status != 200 {
				t.Fatalf("server %v, client %v status %d", s.err, resp.Err, resp.Status)
			}
			if s.length != tt.body.Size || s.n != tt.body.Size {
				t.Errorf("Content-Length %d, body %d bytes; want %d", s.length, s.n, tt.body.Size)
			}
			if d := s.body.Sub(resp.Sent); d < tt.body.Duration()*9/10 {
				t.Errorf("the body was complete %v after the headers left; it should take %v", d, tt.body.Duration())
			}
			if d := s.headers.Sub(resp.Sent); d > tt.body.Duration()/2 {
				t.Errorf("the headers arrived %v after they left: they should not wait for the body (%v)", d, tt.body.Duration())
			}
		})
	}
}
