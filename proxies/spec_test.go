package proxies

import (
	"strings"
	"testing"
	"time"
)

// Addrs reports both bad addresses at once, and a name is allowed only
// upstream; Response falls back to the default.
func TestSpecAddrsAndResponse(t *testing.T) {
	l, u, err := Spec{Listen: "127.0.0.1:8080", Upstream: "backend.internal:9000"}.Addrs()
	if err != nil || l.String() != "127.0.0.1:8080" || u.String() != "backend.internal:9000" {
		t.Fatalf("good spec: %v %v %v", l, u, err)
	}
	_, _, err = Spec{Listen: "localhost:8080", Upstream: "127.0.0.1:0"}.Addrs()
	if err == nil || !strings.Contains(err.Error(), "listen address") || !strings.Contains(err.Error(), "upstream address") {
		t.Fatalf("want both addresses named, got %v", err)
	}
	if got := (Spec{}).Response(); got != DefaultResponseTimeout {
		t.Errorf("zero response timeout: %v", got)
	}
	if got := (Spec{ResponseTimeout: time.Second}).Response(); got != time.Second {
		t.Errorf("set response timeout: %v", got)
	}
}
