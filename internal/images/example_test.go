package images_test

import (
	"context"
	"fmt"

	"github.com/racelab/racelab/internal/images"
	"github.com/racelab/racelab/proxies"
)

// Build the bookworm image (or reuse it), then pick the nginx 1.22 image.
func ExampleResolve() {
	ctx := context.Background()
	if _, err := images.Build(ctx, "bookworm"); err != nil {
		fmt.Println(err)
		return
	}
	ref, local, err := images.Resolve(ctx, proxies.KindNginx, "1.22")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ref, local) // racelab/nginx:1.22.1 true
}
