package wire_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/racelab/racelab/internal/wire"
)

// A capture of a backend's port: start it before the proxy connects,
// read what is queued once the failure was seen, analyse the connection
// the request went out on, and keep its packets as a pcap file.
func Example() {
	ctx := context.Background()
	c, err := wire.Start(ctx, wire.Config{Port: 8080})
	if errors.Is(err, wire.ErrUnavailable) {
		fmt.Println(err) // "capture unavailable: … (needs root or CAP_NET_RAW)"
		return
	}
	if err != nil {
		panic(err)
	}
	defer c.Close()

	sent := time.Now()
	// ... send the request through the proxy and see it fail ...
	if err := c.Drain(); err != nil {
		panic(err)
	}
	marker := []byte(": 0-1-v\r\n") // the request id header's value
	if flows := c.FlowsWith(marker); len(flows) > 0 {
		w := wire.Analyze(flows[0], wire.Victim{Sent: sent, Marker: marker})
		fmt.Println(w.FirstClose, w.CloseKind, w.RequestIntoClosed)
		_ = wire.WritePcap("trial.pcap", wire.DefaultSnapLen, flows[0])
	}
	c.Prune(sent) // the connections that ended before this trial
}
