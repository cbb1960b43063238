package backends_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"

	"github.com/racelab/racelab/backends"
)

func Example() {
	ctx := context.Background()
	rec := backends.NewRecorder()
	s, err := backends.Start(ctx, backends.Config{}, backends.WithObserver(rec.Observe))
	if err != nil {
		log.Fatal(err)
	}

	// One request on a raw connection; the path carries the request id.
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	fmt.Fprintf(nc, "GET %s42 HTTP/1.1\r\nHost: backend\r\n\r\n", backends.PathPrefix)
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(body))

	// Close returns after every connection's close event was observed.
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}
	for _, e := range rec.ForConn(1) {
		fmt.Println(strings.Join(strings.Fields(fmt.Sprint(e.Kind, " ", e.RequestID, " ", e.Reason)), " "))
	}
	// Output:
	// 200 ok 42
	// accept
	// request 42
	// handler 42
	// response 42
	// close shutdown
}

// A backend that behaves like Node.js, scaled down a hundredfold.
func ExampleLookupPreset() {
	p, ok := backends.LookupPreset("node")
	if !ok {
		log.Fatal("no preset")
	}
	cfg := p.Config()
	cfg.IdleTimeout /= 100
	fmt.Println(p.Name, p.IdleTimeout, "->", cfg.IdleTimeout)
	// Output: node 6s -> 60ms
}
