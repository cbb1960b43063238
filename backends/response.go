package backends

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ConnHeader carries the backend's connection id on every response, so a
// client can tell which backend connection served it.
const ConnHeader = "X-Racelab-Conn"

// appendResponse renders a complete response. The body is "ok <id>\n" for
// statuses below 400 and "backend <status> <id>\n" otherwise (without the
// id when there is none), so a 5xx from the backend is told apart from one
// the proxy made up. 1xx, 204 and 304
// responses have no body and no Content-Length; a HEAD response announces
// the length but sends no body.
func appendResponse(b []byte, status int, id string, connID uint64, closing, head bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if text := http.StatusText(status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "Status"...)
	}
	b = append(b, "\r\n"...)
	bodyless := status < 200 || status == http.StatusNoContent || status == http.StatusNotModified
	var bodyLen int
	if !bodyless {
		bodyLen = len(bodyWord(status)) + 1
		if id != "" {
			bodyLen += 1 + len(id)
		}
		b = append(b, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(bodyLen), 10)
		b = append(b, "\r\n"...)
	}
	if id != "" {
		b = append(b, RequestIDHeader+": "...)
		b = append(b, id...)
		b = append(b, "\r\n"...)
	}
	b = append(b, ConnHeader+": "...)
	b = strconv.AppendUint(b, connID, 10)
	b = append(b, "\r\n"...)
	if closing {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	if !bodyless && !head {
		b = append(b, bodyWord(status)...)
		if id != "" {
			b = append(b, ' ')
			b = append(b, id...)
		}
		b = append(b, '\n')
	}
	return b
}

func bodyWord(status int) string {
	if status < 400 {
		return "ok"
	}
	return "backend " + strconv.Itoa(status)
}

func appendBadRequest(b []byte, connID uint64) []byte {
	b = append(b, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"+ConnHeader+": "...)
	b = strconv.AppendUint(b, connID, 10)
	return append(b, "\r\nConnection: close\r\n\r\n"...)
}

// requestID is the request's id: the RequestIDHeader value, else the
// path after PathPrefix, else "". An id that is unsafe to echo in a header
// is query-escaped.
func requestID(req *http.Request) string {
	if v := req.Header.Get(RequestIDHeader); v != "" {
		return safeID(v)
	}
	if p := req.URL.EscapedPath(); strings.HasPrefix(p, PathPrefix) {
		return safeID(p[len(PathPrefix):])
	}
	return ""
}

// RequestIDFromPath reads a request id from a request path: the element
// after the last PathPrefix ("/r/<id>", also under a route prefix such as
// "/api/r/<id>"), up to the next '/', '?' or '#'; "" when there is none.
// Proxies' log parsers use it on the path they logged.
func RequestIDFromPath(path string) string {
	i := strings.LastIndex(path, PathPrefix)
	if i < 0 {
		return ""
	}
	id := path[i+len(PathPrefix):]
	if j := strings.IndexAny(id, "/?#"); j >= 0 {
		id = id[:j]
	}
	return id
}

func safeID(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return url.QueryEscape(s)
		}
	}
	return s
}

// requestIDFromRaw finds the request id in the raw bytes of a request that
// was never parsed (the start of it may be all there is). Only complete
// lines count.
func requestIDFromRaw(raw []byte) string {
	var pathID string
	for i := 0; ; i++ {
		nl := bytes.IndexByte(raw, '\n')
		if nl < 0 {
			break
		}
		line := bytes.TrimRight(raw[:nl], "\r")
		raw = raw[nl+1:]
		if i == 0 {
			pathID = idFromRequestLine(string(line))
			continue
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(name), RequestIDHeader) {
			// The first occurrence decides, as Header.Get does for a
			// parsed request: an empty one leaves the path's id. Lines
			// that start with a space or a tab continue the value (obsolete
			// line folding, joined by one space as net/textproto does).
			v := strings.TrimSpace(string(value))
			for {
				nl := bytes.IndexByte(raw, '\n')
				if nl < 0 || len(raw) == 0 || (raw[0] != ' ' && raw[0] != '\t') {
					break
				}
				if more := strings.TrimSpace(string(raw[:nl])); more != "" {
					v = strings.TrimSpace(v + " " + more)
				}
				raw = raw[nl+1:]
			}
			if v != "" {
				return safeID(v)
			}
			break
		}
	}
	return pathID
}

func idFromRequestLine(line string) string {
	fields := strings.Fields(line)
	if len(fields) != 3 {
		return ""
	}
	target := fields[1]
	for _, scheme := range []string{"http://", "https://"} {
		if rest, ok := strings.CutPrefix(target, scheme); ok {
			i := strings.IndexByte(rest, '/')
			if i < 0 {
				return ""
			}
			target = rest[i:]
		}
	}
	target, _, _ = strings.Cut(target, "?")
	if id, ok := strings.CutPrefix(target, PathPrefix); ok {
		return safeID(id)
	}
	return ""
}
