package lab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/proxies"
)

// The embedded Go proxy closes an idle upstream connection at its
// Transport's IdleConnTimeout: the probe finds it from the backend's side.
func TestProbeProxyGo(t *testing.T) {
	const idle = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := ProbeProxy(ctx, ProxyProbe{Kind: "go", IdleTimeout: idle, Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !res.KeepAlive || res.NeverClosed || res.Measured() != 2 {
		t.Fatalf("result %+v", res)
	}
	if res.Median < idle-10*time.Millisecond || res.Median > idle+200*time.Millisecond {
		t.Errorf("median %v, want about %v", res.Median, idle)
	}
	t.Log(res.Subject(), res.Summary())
}

func TestProbeProxyBoundedWait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := ProbeProxy(ctx, ProxyProbe{Kind: "go", IdleTimeout: time.Minute, MaxWait: 300 * time.Millisecond, Samples: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !res.NeverClosed || len(res.Samples) != 1 || res.Summary() != "no idle close within 300ms" {
		t.Fatalf("result %+v: %s", res, res.Summary())
	}
}

func TestProbeProxyNginx(t *testing.T) {
	if err := Available(proxies.KindNginx); err != nil {
		t.Skipf("nginx: %v (install the Debian package nginx)", err)
	}
	const idle = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := ProbeProxy(ctx, ProxyProbe{Kind: "nginx", IdleTimeout: idle, Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.NeverClosed || res.Median < idle-10*time.Millisecond || res.Median > idle+200*time.Millisecond {
		t.Fatalf("nginx keepalive_timeout %v: %s", idle, res.Summary())
	}
	t.Log(res.Subject(), res.Summary())
}

func TestProbeProxyRejects(t *testing.T) {
	for name, pp := range map[string]ProxyProbe{
		"kind":         {Kind: "traefik"},
		"go runtime":   {Kind: "go", Runtime: "process"},
		"go config":    {Kind: "go", Config: "x.conf"},
		"both":         {Kind: "nginx", Config: "x.conf", IdleTimeout: time.Second},
		"many samples": {Kind: "go", Samples: 1000},
	} {
		if _, err := ProbeProxy(context.Background(), pp); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// A user's nginx file runs as written, its upstream rewritten to
// racelab's backend: the probe measures the file's own keepalive_timeout
// and never contacts the host the file names.
func TestProbeProxyUserConfig(t *testing.T) {
	if err := Available(proxies.KindNginx); err != nil {
		t.Skipf("nginx: %v (install the Debian package nginx)", err)
	}
	path := filepath.Join(t.TempDir(), "nginx.conf")
	conf := `events {}
http {
    upstream app {
        server app.internal.example:8080;
        keepalive 8;
        keepalive_timeout 400ms;
    }
    server {
        listen 80;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := ProbeProxy(ctx, ProxyProbe{Kind: "nginx", Config: path, Samples: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.NeverClosed || res.Median < 390*time.Millisecond || res.Median > 600*time.Millisecond {
		t.Fatalf("keepalive_timeout 400ms: %s", res.Summary())
	}
	if !strings.Contains(res.Subject(), "idle_timeout 400ms ("+path+":6)") {
		t.Errorf("subject %q does not name the setting and its line", res.Subject())
	}
	t.Log(res.Subject(), res.Summary())
}

// HAProxy has no upstream idle timer: the probe finds the purge's 2 to 3
// periods.
func TestProbeProxyHAProxy(t *testing.T) {
	if err := Available(proxies.KindHAProxy); err != nil {
		t.Skipf("haproxy: %v (install the Debian package haproxy)", err)
	}
	const purge = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := ProbeProxy(ctx, ProxyProbe{Kind: "haproxy", IdleTimeout: purge, Samples: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.NeverClosed || res.Median < 2*purge-20*time.Millisecond || res.Median > 3*purge+100*time.Millisecond {
		t.Fatalf("pool-purge-delay %v: %s", purge, res.Summary())
	}
	if len(res.Notes) == 0 {
		t.Error("no note on HAProxy's purge")
	}
	t.Log(res.Subject(), res.Summary())
}
