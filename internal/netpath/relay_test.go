package netpath

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// server is a one-connection TCP server on 127.0.0.1:0: handle runs on the
// accepted connection.
func server(t *testing.T, handle func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		handle(c.(*net.TCPConn))
	}()
	return ln.Addr().String()
}

// relayTo starts a relay with latency in front of target and dials it.
func relayTo(t *testing.T, target string, cfg Config) (*Relay, *net.TCPConn) {
	t.Helper()
	r, err := Start(context.Background(), target, cfg)
	t.Cleanup(func() {
		if r != nil {
			require.NoError(t, r.Close())
		}
	})
	require.NoError(t, err)
	c, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return r, c.(*net.TCPConn)
}

type arrival struct {
	data []byte
	err  error
	at   time.Time
}

// readAll reads c until an error, stamping each read.
func readAll(c net.Conn) []arrival {
	var out []arrival
	for {
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		now := time.Now()
		if n > 0 {
			out = append(out, arrival{data: buf[:n], at: now})
		}
		if err != nil {
			out = append(out, arrival{err: err, at: now})
			return out
		}
	}
}

// waitReset polls c, which has delivered its FIN, for the reset that
// follows: a socket that read end of stream reports a later RST only as
// its pending error (EPIPE in CLOSE_WAIT), never on read.
func waitReset(c *net.TCPConn) arrival {
	end := time.Now().Add(10 * time.Second)
	for time.Now().Before(end) {
		if err := socketError(c); err != nil {
			return arrival{err: err, at: time.Now()}
		}
		time.Sleep(200 * time.Microsecond)
	}
	return arrival{at: time.Now()}
}

func joined(as []arrival) []byte {
	var b []byte
	for _, a := range as {
		b = append(b, a.data...)
	}
	return b
}

const testLatency = 20 * time.Millisecond

func TestDataThenFINAfterDelay(t *testing.T) {
	got := make(chan []arrival, 1)
	addr := server(t, func(c *net.TCPConn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		got <- readAll(c)
	})
	_, c := relayTo(t, addr, Config{Latency: testLatency})
	sent := time.Now()
	_, err := c.Write([]byte("hello"))
	require.NoError(t, err)
	require.NoError(t, c.CloseWrite())
	as := <-got
	require.Equal(t, "hello", string(joined(as)))
	last := as[len(as)-1]
	require.ErrorIs(t, last.err, io.EOF, "the stream ends with FIN, not a reset")
	require.GreaterOrEqual(t, as[0].at.Sub(sent), testLatency, "data arrived before the delay")
	require.GreaterOrEqual(t, last.at.Sub(sent), testLatency, "FIN arrived before the delay")
	require.False(t, last.at.Before(as[0].at), "FIN overtook the data")
}

func TestRSTAfterData(t *testing.T) {
	// The times are the server's own: the relay may read the bytes before
	// the client's dial has returned.
	wrote, reset := make(chan time.Time, 1), make(chan time.Time, 1)
	addr := server(t, func(c *net.TCPConn) {
		wrote <- time.Now()
		_, _ = c.Write([]byte("partial"))
		time.Sleep(5 * time.Millisecond) // the relay has read the bytes
		_ = c.SetLinger(0)
		reset <- time.Now()
		_ = c.Close()
	})
	_, c := relayTo(t, addr, Config{Latency: testLatency})
	as := readAll(c)
	require.Equal(t, "partial", string(joined(as)), "the data before the reset is delivered")
	last := as[len(as)-1]
	require.ErrorIs(t, last.err, syscall.ECONNRESET, "the reset reaches the far side as a reset")
	require.GreaterOrEqual(t, as[0].at.Sub(<-wrote), testLatency)
	require.GreaterOrEqual(t, last.at.Sub(<-reset), testLatency, "the reset arrived before the delay")
	require.False(t, last.at.Before(as[0].at), "the reset overtook the data")
}

func TestHalfClose(t *testing.T) {
	// The client half-closes after its request; the server reads to EOF,
	// then answers on its still-open write side.
	addr := server(t, func(c *net.TCPConn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		req := joined(readAll(c))
		_, _ = c.Write(append([]byte("got "), req...))
		_ = c.CloseWrite()
		_, _ = io.Copy(io.Discard, c)
	})
	_, c := relayTo(t, addr, Config{Latency: testLatency})
	start := time.Now()
	_, err := c.Write([]byte("ping"))
	require.NoError(t, err)
	require.NoError(t, c.CloseWrite())
	as := readAll(c)
	require.Equal(t, "got ping", string(joined(as)))
	require.ErrorIs(t, as[len(as)-1].err, io.EOF)
	require.GreaterOrEqual(t, as[0].at.Sub(start), 2*testLatency, "an answer takes one round trip")
}

func TestWriteIntoClosedPeerGetsRST(t *testing.T) {
	tests := []struct {
		name string
		// writeAfterFIN: the request leaves after the FIN arrived (else
		// while the FIN is in flight: the natural race).
		writeAfterFIN bool
	}{
		{name: "after FIN", writeAfterFIN: true},
		{name: "FIN in flight", writeAfterFIN: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			closed := make(chan time.Time, 1)
			addr := server(t, func(c *net.TCPConn) {
				closed <- time.Now()
				_ = c.Close()
			})
			_, c := relayTo(t, addr, Config{Latency: testLatency})
			var first arrival
			at := <-closed
			if tt.writeAfterFIN {
				as := readAll(c)
				require.Len(t, as, 1)
				require.ErrorIs(t, as[0].err, io.EOF, "the FIN arrives first")
				require.GreaterOrEqual(t, as[0].at.Sub(at), testLatency)
				first = as[0]
			} else {
				time.Sleep(testLatency / 4)
			}
			sent := time.Now()
			_, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			require.NoError(t, err, "the relay's side takes the bytes, as the proxy's kernel does")
			if !tt.writeAfterFIN {
				as := readAll(c)
				require.ErrorIs(t, as[0].err, io.EOF, "the FIN in flight arrives before the reset")
				first = as[0]
			}
			require.GreaterOrEqual(t, first.at.Sub(at), testLatency)
			last := waitReset(c)
			require.True(t, errors.Is(last.err, syscall.EPIPE) || errors.Is(last.err, syscall.ECONNRESET),
				"want a reset back, got %v", last.err)
			require.GreaterOrEqual(t, last.at.Sub(sent), 2*testLatency, "the reset comes back one round trip after the write")
		})
	}
}

func TestJitterKeepsOrder(t *testing.T) {
	const n = 200
	got := make(chan []byte, 1)
	addr := server(t, func(c *net.TCPConn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		got <- joined(readAll(c))
	})
	_, c := relayTo(t, addr, Config{Latency: 5 * time.Millisecond, Jitter: 4 * time.Millisecond, Seed: 7})
	var want bytes.Buffer
	for i := range n {
		msg := []byte{byte(i), byte(i >> 8)}
		want.Write(msg)
		_, err := c.Write(msg)
		require.NoError(t, err)
		time.Sleep(100 * time.Microsecond)
	}
	require.NoError(t, c.CloseWrite())
	require.Equal(t, want.Bytes(), <-got)
}

func TestCloseEndsEveryConnection(t *testing.T) {
	addr := server(t, func(c *net.TCPConn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.Copy(io.Discard, c)
	})
	r, c := relayTo(t, addr, Config{Latency: time.Millisecond})
	_, err := c.Write([]byte("x"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.open() == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, r.Close())
	require.Equal(t, 0, r.open())
	as := readAll(c)
	require.Error(t, as[len(as)-1].err)
	_, err = net.Dial("tcp", r.Addr())
	require.Error(t, err, "the listener is closed")
}

func TestTargetDownResetsTheConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, c := relayTo(t, addr, Config{Latency: 5 * time.Millisecond})
	as := readAll(c)
	require.ErrorIs(t, as[len(as)-1].err, syscall.ECONNRESET)
}

func TestStartRejectsNegative(t *testing.T) {
	_, err := Start(context.Background(), "127.0.0.1:1", Config{Latency: -time.Millisecond})
	require.ErrorContains(t, err, "must not be negative")
}

func TestNetemAvailableSays(t *testing.T) {
	ok, why := NetemAvailable(context.Background())
	if !ok {
		require.NotEmpty(t, why, "an unavailable netem says why")
	}
	t.Logf("netem available: %v %s", ok, why)
}

// socketError reads (and clears) c's pending socket error: a reset the
// kernel received leaves ECONNRESET or EPIPE there.
func socketError(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var soErr int
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		soErr, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
	}); err != nil {
		return err
	}
	if gerr != nil {
		return gerr
	}
	if soErr != 0 {
		return syscall.Errno(soErr)
	}
	return nil
}
