package caddy

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// Evidence sources, as proxies.Evidence documents them.
const (
	sourceAccess = "access"
	sourceError  = "error"
)

// logLine is the part of one of Caddy's JSON log lines (zap) that carries
// evidence.
type logLine struct {
	Level   string      `json:"level"`
	Logger  string      `json:"logger"`
	Msg     string      `json:"msg"`
	Error   string      `json:"error"`
	Status  int         `json:"status"`
	Request *logRequest `json:"request"`
}

type logRequest struct {
	Method  string              `json:"method"`
	URI     string              `json:"uri"`
	Headers map[string][]string `json:"headers"`
}

// requestID is the request's backends.RequestIDHeader, else the id in its
// path.
func (r *logRequest) requestID() string {
	if r == nil {
		return ""
	}
	for k, v := range r.Headers {
		if strings.EqualFold(k, backends.RequestIDHeader) && len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return backends.RequestIDFromPath(r.URI)
}

// socketRE matches the addresses Go puts in a socket error ("readfrom
// tcp 127.0.0.1:38878->127.0.0.1:41283: "): ephemeral ports differ from
// run to run, the operation and the cause do not.
var socketRE = regexp.MustCompile(`\b(?:read|write|readfrom|dial) (?:tcp|tcp4|tcp6|unix) \S+?(?:->\S+?)?: `)

// plainError drops the operation and addresses Go puts before a socket
// error's cause in msg.
func plainError(msg string) string { return socketRE.ReplaceAllString(msg, "") }

// ParseLog turns one line of Caddy's output into evidence:
//
//   - an access line (logger http.log.access…, "handled request") becomes
//     Source "access" with the status Caddy answered;
//   - an error line (logger http.log.error…) becomes Source "error" with
//     Caddy's message, "EOF" or "read: connection reset by peer" for the
//     race;
//   - a reverse_proxy round trip that failed (logger
//     http.handlers.reverse_proxy, "upstream roundtrip" with an error)
//     becomes Source "error" with "upstream roundtrip: <error>": one line
//     per failed attempt, so a retry by Caddy's load balancer shows as a
//     failed round trip under a request that answered 200;
//   - any other line at level error or above becomes Source "error".
//
// Successful round trips and other info lines carry no evidence.
func (Adapter) ParseLog(line string) (proxies.Evidence, bool) {
	if !strings.HasPrefix(line, "{") {
		return proxies.Evidence{}, false
	}
	var l logLine
	if err := json.Unmarshal([]byte(line), &l); err != nil {
		return proxies.Evidence{}, false
	}
	id := l.Request.requestID()
	l.Msg, l.Error = plainError(l.Msg), plainError(l.Error)
	switch {
	case strings.HasPrefix(l.Logger, "http.log.access"):
		return proxies.Evidence{Source: sourceAccess, RequestID: id, Status: l.Status, Raw: line}, true
	case strings.HasPrefix(l.Logger, "http.log.error"):
		return proxies.Evidence{Source: sourceError, RequestID: id, Status: l.Status, Message: l.Msg, Raw: line}, true
	case l.Logger == reverseProxyLogger && l.Error != "":
		return proxies.Evidence{Source: sourceError, RequestID: id, Message: l.Msg + ": " + l.Error, Raw: line}, true
	case l.Level == "error" || l.Level == "fatal" || l.Level == "panic":
		msg := l.Msg
		if l.Error != "" {
			msg += ": " + l.Error
		}
		return proxies.Evidence{Source: sourceError, RequestID: id, Message: msg, Raw: line}, true
	}
	return proxies.Evidence{}, false
}
