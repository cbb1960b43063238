//go:build linux

package wire

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/results"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startCapture starts a capture of port, or skips when this process may
// not capture: the test script runs the suite as root, so CI never skips.
func startCapture(t testing.TB, port uint16, mode Filtering) *Capture {
	t.Helper()
	c, err := Start(context.Background(), Config{Port: port, Filtering: mode})
	if c != nil {
		t.Cleanup(func() { assert.NoError(t, c.Close()) })
	}
	if errors.Is(err, ErrUnavailable) && os.Geteuid() != 0 {
		t.Skipf("%v: run the tests as root (scripts/test.sh does)", err)
	}
	require.NoError(t, err)
	return c
}

// listen binds a backend on 127.0.0.1:0 whose handler gets each
// accepted connection.
func listen(t *testing.T, handle func(net.Conn)) (net.Listener, uint16) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return ln, uint16(ln.Addr().(*net.TCPAddr).Port)
}

func syncCap(t *testing.T, c *Capture) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.Sync(ctx))
}

func flowOf(t *testing.T, c *Capture, conn net.Conn) Flow {
	t.Helper()
	f, ok := c.Flow(netip.MustParseAddrPort(conn.LocalAddr().String()))
	require.True(t, ok, "no flow for %s", conn.LocalAddr())
	return f
}

func count(f Flow, from Side, flag Flags) (n, payload int) {
	for _, p := range f.Packets {
		if p.From == from && (flag == 0 || p.Flags.Has(flag)) {
			n++
			payload += p.Payload
		}
	}
	return n, payload
}

// TestCaptureOneCopyPerPacket: lo shows every packet to the tap twice;
// each filtering mode keeps exactly one copy, and only the port's
// connections.
func TestCaptureOneCopyPerPacket(t *testing.T) {
	for _, mode := range []Filtering{FilterKernel, FilterUser} {
		t.Run(string(mode), func(t *testing.T) {
			const req, resp = "GET /r/one HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
			_, port := listen(t, func(c net.Conn) {
				defer c.Close()
				buf := make([]byte, len(req))
				if _, err := io.ReadFull(c, buf); err == nil {
					_, _ = c.Write([]byte(resp))
				}
				_, _ = io.Copy(io.Discard, c)
			})
			// Traffic on another port must not be filed.
			_, other := listen(t, func(c net.Conn) { _ = c.Close() })
			c := startCapture(t, port, mode)
			oc, err := net.Dial("tcp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), other).String())
			require.NoError(t, err)
			_ = oc.Close()

			conn, err := net.Dial("tcp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
			require.NoError(t, err)
			_, err = conn.Write([]byte(req))
			require.NoError(t, err)
			_, err = io.ReadFull(conn, make([]byte, len(resp)))
			require.NoError(t, err)
			require.NoError(t, conn.Close())
			time.Sleep(20 * time.Millisecond) // the closing handshake's last ACK
			syncCap(t, c)

			f := flowOf(t, c, conn)
			syn, _ := count(f, SideProxy, FlagSYN)
			synack, _ := count(f, SideBackend, FlagSYN|FlagACK)
			_, sent := count(f, SideProxy, 0)
			_, got := count(f, SideBackend, 0)
			fin, _ := count(f, SideProxy, FlagFIN)
			assert.Equal(t, 1, syn, "one SYN")
			assert.Equal(t, 1, synack, "one SYN-ACK")
			assert.Equal(t, 1, fin, "one FIN from the client")
			assert.Equal(t, len(req), sent, "request bytes counted once")
			assert.Equal(t, len(resp), got, "response bytes counted once")
			st := c.Stats()
			assert.Equal(t, 1, st.Conns, "only the port's connection: %+v", st)
			if mode == FilterUser {
				assert.Positive(t, st.Duplicates, "userspace filtering saw lo's second copies")
			} else {
				assert.Zero(t, st.Duplicates, "the kernel filter passes arriving copies only")
			}
		})
	}
}

// TestAnalyzeBackendClosesAfterRequest is close-on-reuse on the wire: the
// backend reads the request and closes without answering.
func TestAnalyzeBackendClosesAfterRequest(t *testing.T) {
	const req = "GET /r/victim-1 HTTP/1.1\r\n\r\n"
	_, port := listen(t, func(c net.Conn) {
		_, _ = io.ReadFull(c, make([]byte, len(req)))
		_ = c.Close()
	})
	c := startCapture(t, port, FilterKernel)
	conn, err := net.Dial("tcp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
	require.NoError(t, err)
	defer conn.Close()
	sent := time.Now()
	_, err = conn.Write([]byte(req))
	require.NoError(t, err)
	_, err = conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
	syncCap(t, c)

	w := Analyze(flowOf(t, c, conn), Victim{Sent: sent, Marker: []byte("victim-1")})
	assert.Equal(t, "backend", w.FirstClose)
	assert.Equal(t, "fin", w.CloseKind)
	require.NotNil(t, w.CloseSinceRequestNS)
	assert.GreaterOrEqual(t, *w.CloseSinceRequestNS, int64(0), "the FIN follows the request")
	assert.Equal(t, len(req), w.RequestBytes)
	assert.Zero(t, w.ResponseBytes)
	assert.False(t, w.RequestIntoClosed)
	assert.Equal(t, conn.LocalAddr().String()+">"+conn.RemoteAddr().String(), w.Conn)
	kinds := eventKinds(w.Events)
	assert.Equal(t, []string{"proxy:syn", "backend:syn", "proxy:data", "backend:fin"}, kinds[:4])
}

// TestAnalyzeRequestIntoClosed is the natural race on the wire: the
// backend's FIN is out before the request, which the backend's kernel
// answers with RST.
func TestAnalyzeRequestIntoClosed(t *testing.T) {
	closed := make(chan struct{})
	_, port := listen(t, func(c net.Conn) {
		_ = c.Close()
		close(closed)
	})
	c := startCapture(t, port, FilterKernel)
	conn, err := net.Dial("tcp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
	require.NoError(t, err)
	defer conn.Close()
	<-closed
	// The FIN is on lo once the close returned; wait until the client's
	// kernel has it too, as a pooled connection's would.
	require.Eventually(t, func() bool {
		syncCap(t, c)
		n, _ := count(flowOf(t, c, conn), SideBackend, FlagFIN)
		return n == 1
	}, 5*time.Second, time.Millisecond)
	sent := time.Now()
	_, err = conn.Write([]byte("GET /r/victim-2 HTTP/1.1\r\n\r\n"))
	require.NoError(t, err, "a write after the peer's FIN succeeds")
	_, err = conn.Read(make([]byte, 1))
	require.Error(t, err)
	syncCap(t, c)

	w := Analyze(flowOf(t, c, conn), Victim{Sent: sent, Marker: []byte("victim-2")})
	assert.Equal(t, "backend", w.FirstClose)
	assert.Equal(t, "fin", w.CloseKind)
	require.NotNil(t, w.CloseSinceRequestNS)
	assert.Negative(t, *w.CloseSinceRequestNS, "the FIN came before the request")
	assert.True(t, w.RequestIntoClosed, "events: %v", eventKinds(w.Events))
	assert.Zero(t, w.ResponseBytes)
	assert.Contains(t, strings.Join(eventKinds(w.Events), " "), "backend:fin proxy:data backend:rst")
}

func eventKinds(evs []results.WireEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.From + ":" + e.Kind
	}
	return out
}

// TestWritePcapReadByTshark writes a connection's packets and has tshark
// read them back.
func TestWritePcapReadByTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark; scripts/test.sh installs it)")
	}
	const req = "GET /r/pcap-1 HTTP/1.1\r\nHost: x\r\n\r\n"
	_, port := listen(t, func(c net.Conn) {
		_, _ = io.ReadFull(c, make([]byte, len(req)))
		_ = c.Close()
	})
	c := startCapture(t, port, FilterKernel)
	conn, err := net.Dial("tcp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte(req))
	require.NoError(t, err)
	_, _ = conn.Read(make([]byte, 1))
	syncCap(t, c)
	f := flowOf(t, c, conn)
	path := filepath.Join(t.TempDir(), "trial.pcap")
	require.NoError(t, WritePcap(path, DefaultSnapLen, f))

	out, err := exec.Command(tshark, "-r", path, "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.flags.fin", "-e", "http.request.uri").Output()
	require.NoError(t, err, "%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	assert.Len(t, lines, len(f.Packets), "tshark reads every packet: %s", out)
	assert.Contains(t, string(out), "/r/pcap-1", "the request line is in the file")
	assert.Contains(t, string(out), strings.Join([]string{itoa(port), "1"}, "\t"), "the backend's FIN is in the file")
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

// TestStartUnavailable runs Start in a child process without CAP_NET_RAW
// (setpriv drops it from the bounding set): the error says why, and
// wraps ErrUnavailable.
func TestStartUnavailable(t *testing.T) {
	if os.Getenv("RACELAB_WIRE_CHILD") == "1" {
		_, err := Start(context.Background(), Config{Port: 1})
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("want ErrUnavailable, got %v", err)
		}
		t.Log(err.Error())
		return
	}
	if os.Geteuid() != 0 {
		_, err := Start(context.Background(), Config{Port: 1})
		require.ErrorIs(t, err, ErrUnavailable)
		assert.Contains(t, err.Error(), "capture unavailable: open AF_PACKET socket on lo")
		return
	}
	setpriv, err := exec.LookPath("setpriv")
	require.NoError(t, err, "setpriv (util-linux) drops the capability")
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(setpriv, "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--", exe, "-test.run=^TestStartUnavailable$", "-test.v")
	cmd.Env = append(os.Environ(), "RACELAB_WIRE_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "capture unavailable: open AF_PACKET socket on lo")
	assert.Contains(t, string(out), "needs root or CAP_NET_RAW")
}
