package probe_test

import (
	"context"
	"fmt"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/probe"
)

// Measure a server whose keep-alive idle timeout is 200ms: racelab's own
// backend here, a Node.js or Python server on loopback in practice.
func ExampleMeasure() {
	be, err := backends.Start(context.Background(), backends.Config{IdleTimeout: 200 * time.Millisecond, MaxRequestsPerConn: 50})
	if err != nil {
		panic(err)
	}
	defer be.Close()

	res, err := probe.Measure(context.Background(), "http://"+be.Addr()+"/", probe.WithSamples(3))
	if err != nil {
		panic(err)
	}
	fmt.Println("idle close:", res.Median.Round(100*time.Millisecond), res.Close)
	fmt.Println("max requests per connection:", res.MaxRequestsText())
	// Output:
	// idle close: 200ms fin
	// max requests per connection: 50
}
