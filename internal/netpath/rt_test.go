package netpath

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The relay's threads run at real-time priority where racelab may set it
// (root), and say why not elsewhere; before any connection it says so.
func TestRealtimeReported(t *testing.T) {
	idle, err := Start(t.Context(), "127.0.0.1:1", Config{})
	require.NoError(t, err)
	require.ErrorContains(t, idle.Realtime(), "no connection relayed yet")
	require.NoError(t, idle.Close())

	addr := server(t, func(c *net.TCPConn) { _, _ = io.Copy(io.Discard, c) })
	r, c := relayTo(t, addr, Config{Latency: time.Millisecond})
	_, err = c.Write([]byte("x"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.open() == 1 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool {
		err := r.Realtime()
		return err == nil || err.Error() != "no connection relayed yet"
	}, 5*time.Second, time.Millisecond)
	if os.Geteuid() == 0 {
		require.NoError(t, r.Realtime(), "as root the relay's thread runs at SCHED_FIFO")
	} else {
		require.Error(t, r.Realtime())
	}
}
