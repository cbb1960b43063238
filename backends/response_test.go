package backends

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRequestIDFromRaw(t *testing.T) {
	for _, tc := range []struct {
		name, raw, want string
	}{
		{"path", "GET /r/abc HTTP/1.1\r\nHost: x\r\n\r\n", "abc"},
		{"header wins", "GET /r/abc HTTP/1.1\r\nx-racelab-request-id:  hdr \r\n\r\n", "hdr"},
		{"header after the path line only", "GET /other HTTP/1.1\r\nX-Racelab-Request-Id: h\r\n", "h"},
		{"query", "POST /r/q1?a=b HTTP/1.1\r\n", "q1"},
		{"absolute form", "GET http://host:8080/r/abs HTTP/1.1\r\n", "abs"},
		{"bare newlines", "GET /r/lf HTTP/1.1\nHost: x\n\n", "lf"},
		{"incomplete request line", "GET /r/trunc", ""},
		{"incomplete header line", "GET /r/p HTTP/1.1\r\nX-Racelab-Request-Id: tru", "p"},
		{"header in the body does not count", "GET /r/p HTTP/1.1\r\n\r\nX-Racelab-Request-Id: body\r\n", "p"},
		{"not a request", "\x16\x03\x01 hello\r\n", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, requestIDFromRaw([]byte(tc.raw)))
		})
	}
}

func TestAppendResponse(t *testing.T) {
	got := string(appendResponse(nil, 200, "id-1", 7, true, false))
	assert.Equal(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 8\r\n"+
		"X-Racelab-Request-Id: id-1\r\nX-Racelab-Conn: 7\r\nConnection: close\r\n\r\nok id-1\n", got)
	got = string(appendResponse(nil, 502, "", 1, false, false))
	assert.Equal(t, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n"+
		"X-Racelab-Conn: 1\r\n\r\nbackend 502\n", got)
	got = string(appendResponse(nil, 304, "n", 2, false, false))
	assert.Equal(t, "HTTP/1.1 304 Not Modified\r\nX-Racelab-Request-Id: n\r\nX-Racelab-Conn: 2\r\n\r\n", got)
}

func TestSafeID(t *testing.T) {
	assert.Equal(t, "plain-id_1", safeID("plain-id_1"))
	assert.Equal(t, "a%0Db", safeID("a\rb"))
}

// TestPendingBytes checks the unread-byte detection on a plain socket pair.
func TestPendingBytes(t *testing.T) {
	if !haveRawPeek {
		t.Skip("unread-byte detection in the kernel buffer needs Linux")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	cl, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer cl.Close()
	sv, err := ln.Accept()
	require.NoError(t, err)
	defer sv.Close()
	raw, err := sv.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)

	measure := func() (pending int, head string, ready bool, rerr error) {
		var buf [8]byte
		require.NoError(t, raw.Control(func(fd uintptr) {
			var n int
			pending, n = pendingBytes(fd, buf[:])
			head = string(buf[:n])
			ready, rerr = peekReady(fd)
		}))
		return
	}
	pending, head, ready, rerr := measure()
	assert.Zero(t, pending)
	assert.Empty(t, head)
	assert.False(t, ready, "nothing to read yet")
	assert.NoError(t, rerr)

	_, err = cl.Write([]byte("GET /r/xyz HTTP/1.1\r\n"))
	require.NoError(t, err)
	// Loopback delivers into the receive buffer during the write.
	pending, head, ready, rerr = measure()
	assert.Equal(t, 21, pending, "every byte is counted")
	assert.Equal(t, "GET /r/x", head, "only what fits is copied")
	assert.True(t, ready)
	assert.NoError(t, rerr)
	pending, _, _, _ = measure()
	assert.Equal(t, 21, pending, "peeking consumed nothing")

	require.NoError(t, cl.(*net.TCPConn).CloseWrite())
	var all [64]byte
	n, err := sv.Read(all[:])
	require.NoError(t, err)
	assert.Equal(t, 21, n)
	_, _, ready, rerr = measure()
	assert.True(t, ready, "end of stream is ready")
	assert.Equal(t, "EOF", rerr.Error())
}

func TestRequestIDFromPath(t *testing.T) {
	for path, want := range map[string]string{
		"/r/0-1-v":           "0-1-v",
		"/api/r/0-1-v":       "0-1-v",
		"/api/r/0-1-v?x=1":   "0-1-v",
		"/r/a/r/b":           "b",
		"/api/r/0-1-v/extra": "0-1-v",
		"/api/":              "",
		"/router/x":          "",
		"":                   "",
	} {
		if got := RequestIDFromPath(path); got != want {
			t.Errorf("RequestIDFromPath(%q) = %q, want %q", path, got, want)
		}
	}
}
