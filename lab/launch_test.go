package lab

import (
	"errors"
	"fmt"
	"net"
	"testing"
)

// A start that lost its port to another process is retried; other
// failures are not.
func TestIsAddrInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, bindErr := net.Listen("tcp", ln.Addr().String())
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("start nginx: listen address x is not free: %w", bindErr), true},
		{errors.New(`start haproxy: exited: [ALERT] cannot bind socket (Address already in use) for [127.0.0.1:80]`), true},
		{errors.New(`nginx: [emerg] bind() to 127.0.0.1:80 failed (98: Address already in use)`), true},
		{errors.New(`nginx: [emerg] unknown directive "keepalive_timout"`), false},
	} {
		if got := isAddrInUse(c.err); got != c.want {
			t.Errorf("isAddrInUse(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
