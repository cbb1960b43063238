package proxyconf_test

import (
	"fmt"
	"log"

	"github.com/racelab/racelab/internal/proxyconf"
)

func ExampleRewrite() {
	res, err := proxyconf.Rewrite(proxyconf.Input{
		Kind:      "nginx",
		Path:      "testdata/nginx-debian/etc/nginx/nginx.conf",
		Root:      "testdata/nginx-debian",
		Upstream:  "api_backend",
		Backend:   "127.0.0.1:18001", // racelab's backend
		Closed:    "127.0.0.1:9",     // every other upstream
		Listen:    "127.0.0.1:18002",
		Dir:       "/tmp/racelab-run",
		LogFormat: `{"status":"$status"}`, RequestIDHeader: "X-Racelab-Request-Id",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("send %s... with Host %s\n", res.Route.Path, res.Route.Host)
	for _, c := range res.Changes {
		if c.AltersPooling {
			fmt.Println(c)
		}
	}
	// Output:
	// send /api/... with Host shop.example.com
	// /etc/nginx/nginx.conf:2 worker_processes: worker_processes auto; -> worker_processes 1; (pools are per worker: with several workers a request may land on a worker whose pool is empty, so racelab runs one) [alters pooling]
}
