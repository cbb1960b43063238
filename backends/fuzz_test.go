package backends

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// FuzzRequestID: the request id read from the raw bytes of a request the
// backend never parsed (the attribution of a connection that died mid
// request) is the id read from the same request parsed, whenever the
// request parses and its target is plain ASCII; it never holds a control
// character; and RequestIDFromPath returns one element of the path.
func FuzzRequestID(f *testing.F) {
	f.Add([]byte("GET /r/abc HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST /r/abc?x=1 HTTP/1.1\r\nHost: x\r\nX-Racelab-Request-Id: id-7\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("GET http://h/r/1-2-v HTTP/1.1\r\nHost: h\r\nx-racelab-request-id:  \r\n\r\n"))
	f.Add([]byte("GET /r/a%00b HTTP/1.1\nHost: h\nX-Racelab-Request-Id: a\x01b\n\n"))
	f.Add([]byte("GET /api/r/x/y#f HTTP/1.1\r\n"))
	f.Add([]byte("GET /r/p HTTP/1.1\r\nX-Racelab-Request-Id:\r\nX-Racelab-Request-Id: h\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := requestIDFromRaw(raw)
		if strings.ContainsFunc(got, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("id %q holds a control character", got)
		}
		if req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw))); err == nil && plainTarget(req) && plainValues(req.Header[RequestIDHeader]) {
			if want := requestID(req); got != want {
				t.Fatalf("raw bytes give id %q, the parsed request %q:\n%q", got, want, raw)
			}
		}
		path := string(raw)
		id := RequestIDFromPath(path)
		if strings.ContainsAny(id, "/?#") || (id != "" || strings.Contains(path, PathPrefix)) && !strings.Contains(path, PathPrefix+id) {
			t.Fatalf("id %q from path %q", id, path)
		}
	})
}

// plainTarget: the request line's path is printable ASCII that URL
// escaping leaves as it is (ids racelab sends are such text).
func plainTarget(req *http.Request) bool {
	s := req.RequestURI
	if strings.ContainsFunc(s, func(r rune) bool { return r <= 0x20 || r >= 0x7f || r == '%' }) {
		return false
	}
	for _, scheme := range []string{"http://", "https://"} {
		if rest, ok := strings.CutPrefix(s, scheme); ok {
			_, s, _ = strings.Cut(rest, "/")
			s = "/" + s
		}
	}
	s, _, _ = strings.Cut(s, "?")
	return s == req.URL.EscapedPath()
}

func plainValues(vs []string) bool {
	for _, v := range vs {
		if strings.ContainsFunc(v, func(r rune) bool { return r >= 0x7f }) {
			return false
		}
	}
	return true
}
