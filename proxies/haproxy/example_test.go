package haproxy_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/haproxy"
)

func ExampleAdapter_Render() {
	b, err := haproxy.Adapter{}.Render(proxies.Spec{
		Listen:      "127.0.0.1:18080",
		Upstream:    "127.0.0.1:18081",
		IdleTimeout: 500 * time.Millisecond,
		Retry:       proxies.RetryIdempotent,
	}, "/tmp/racelab-haproxy")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg := b.Files[haproxy.ConfigFile]
	fmt.Print(cfg[strings.Index(cfg, "\nbackend be")+1:])
	fmt.Println(strings.Join(b.Args, " "))
	// Output:
	// backend be
	//     http-reuse always
	//     retries 1
	//     retry-on conn-failure empty-response response-timeout
	//     http-request disable-l7-retry unless METH_GET || METH_OPTIONS
	//     server s1 127.0.0.1:18081 maxconn 1 pool-max-conn 1 pool-purge-delay 500ms
	// -W -db -f /tmp/racelab-haproxy/haproxy.cfg
}

func ExampleParseAccessLine() {
	a, ok := haproxy.ParseAccessLine(`racelab-haproxy id="id3" st=502 ts=SH-- rc=0 conn=3/3/0/0 queue=0/0 t=0/0/0/-1/0 srv=be/s1 sport=57456 bytes=209 client=127.0.0.1:35010 req="GET /r/id3 HTTP/1.1"`)
	fmt.Println(ok, a.RequestID, a.Status, a.Flags, a.Attempts(), a.SourcePort)
	// Output:
	// true id3 502 SH-- 1 57456
}

func ExampleIdleLifetimeBounds() {
	lo, hi := haproxy.IdleLifetimeBounds(2 * time.Second)
	fmt.Println(lo, hi)
	// Output:
	// 4s 6s
}
