package process_test

import (
	"context"
	"fmt"
	"time"

	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/nginx"
)

// Start nginx in front of a backend, then stop it.
func Example() {
	ctx := context.Background()
	spec := proxies.Spec{
		Kind:        proxies.KindNginx,
		Listen:      "127.0.0.1:18080",
		Upstream:    "127.0.0.1:19090",
		IdleTimeout: 150 * time.Millisecond,
		Retry:       proxies.RetryIdempotent,
	}
	p, err := process.Start(ctx, nginx.Adapter{}, spec)
	defer p.Stop(ctx) // safe after a failed Start too
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("nginx", p.Version(), "listens on", p.Addr(), "pid", p.PID())
}
