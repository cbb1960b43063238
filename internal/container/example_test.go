package container_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/nginx"
)

// Run nginx 1.22 from the local bookworm image in front of a backend on
// 127.0.0.1:8081, stopping it on return, on error and on Ctrl-C.
func ExampleStart() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	spec := proxies.Spec{
		Kind:     proxies.KindNginx,
		Listen:   "127.0.0.1:8080",
		Upstream: "127.0.0.1:8081",
		Retry:    proxies.RetryOff,
	}
	p, err := container.Start(ctx, nginx.Adapter{}, spec, "racelab/nginx:1.22.1", container.WithRunID("example"))
	defer p.Stop(context.Background()) // also after a failed Start
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Addr(), p.Version(), p.Info()["image_id"])
}
