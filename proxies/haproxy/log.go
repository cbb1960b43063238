package haproxy

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// AccessLine is one parsed access log line of the rendered log-format.
// Numbers HAProxy logs as -1 (a stage never reached) stay -1.
type AccessLine struct {
	// RequestID is the captured X-Racelab-Request-Id header, or the id in
	// a "/r/<id>" request path when the header is absent or was cut short
	// by the capture length.
	RequestID string
	// Status is the status sent to the client, -1 when none was.
	Status int
	// Flags is the termination state with cookie flags ("SH--", "----").
	Flags string
	// Retries is how many times HAProxy retried the request or its
	// connection; Redispatched says it moved to another server.
	Retries      int
	Redispatched bool
	// ActConn, FeConn, BeConn and SrvConn are the concurrent connection
	// counts when the request was logged (%ac/%fc/%bc/%sc).
	ActConn, FeConn, BeConn, SrvConn int
	// SrvQueue and BeQueue are the queue lengths (%sq/%bq).
	SrvQueue, BeQueue int
	// Timers in milliseconds: TR request receive, Tw queue wait, Tc
	// connect, Tr server response, Ta active time.
	TR, Tw, Tc, Tr, Ta int
	// Backend and Server name where the request went; Server is
	// "<NOSRV>" when it never reached one.
	Backend, Server string
	// SourcePort is HAProxy's local port on the server connection, which
	// the backend sees as the peer port (0 when there was none).
	SourcePort int
	// Bytes is the number of bytes sent to the client.
	Bytes int64
	// Client is the client address, ip:port.
	Client string
	// Request is the request line ("GET /r/1 HTTP/1.1", "<BADREQ>").
	Request string
	Raw     string
}

// Attempts is the number of server attempts: retries plus one, or 0 when
// no server was picked.
func (a AccessLine) Attempts() int {
	if a.Server == "" || a.Server == "<NOSRV>" {
		return 0
	}
	return a.Retries + 1
}

// Evidence is the line as proxies.Evidence.
func (a AccessLine) Evidence() proxies.Evidence {
	ev := proxies.Evidence{
		Source:    "access",
		RequestID: a.RequestID,
		Flags:     a.Flags,
		Attempts:  a.Attempts(),
		Raw:       a.Raw,
	}
	if a.Status > 0 {
		ev.Status = a.Status
	}
	return ev
}

var accessRE = regexp.MustCompile(`^` + LogPrefix +
	` id=(-|".*?") st=(-?\d+) ts=(\S+) rc=(\+?-?\d+)` +
	` conn=(\d+)/(\d+)/(\d+)/(\d+) queue=(\d+)/(\d+)` +
	` t=(-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/(-?\d+) srv=([^/\s]+)/(\S+) sport=(-|\d*)` +
	` bytes=(\d+) client=(\S+) req=(-|".*")$`)

// ParseAccessLine parses a line written with the rendered log-format;
// ok is false for any other line.
func ParseAccessLine(line string) (a AccessLine, ok bool) {
	line = strings.TrimRight(line, "\r\n")
	m := accessRE.FindStringSubmatch(line)
	if m == nil {
		return AccessLine{}, false
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	a = AccessLine{
		RequestID: unquote(m[1]),
		Status:    num(m[2]),
		Flags:     m[3],
		ActConn:   num(m[5]), FeConn: num(m[6]), BeConn: num(m[7]), SrvConn: num(m[8]),
		SrvQueue: num(m[9]), BeQueue: num(m[10]),
		TR: num(m[11]), Tw: num(m[12]), Tc: num(m[13]), Tr: num(m[14]), Ta: num(m[15]),
		Backend: m[16], Server: m[17],
		SourcePort: num(m[18]),
		Client:     m[20],
		Request:    unquote(m[21]),
		Raw:        line,
	}
	rc := m[4]
	if strings.HasPrefix(rc, "+") {
		a.Redispatched = true
		rc = rc[1:]
	}
	a.Retries = num(rc)
	a.Bytes, _ = strconv.ParseInt(m[19], 10, 64)
	// The header capture is cut at CaptureLen bytes: a path id that the
	// captured id is a prefix of is the whole id.
	if pid := idFromRequest(a.Request); strings.HasPrefix(pid, a.RequestID) {
		a.RequestID = pid
	}
	return a, true
}

// ParseLog turns an access line into evidence. Startup notices, warnings
// and alerts carry none: ok is false for them.
func (Adapter) ParseLog(line string) (proxies.Evidence, bool) {
	a, ok := ParseAccessLine(line)
	if !ok {
		return proxies.Evidence{}, false
	}
	return a.Evidence(), true
}

func unquote(s string) string {
	if s == "-" {
		return ""
	}
	return strings.TrimSuffix(strings.TrimPrefix(s, `"`), `"`)
}

// idFromRequest reads the id from a request line "METHOD /r/<id> HTTP/1.1".
func idFromRequest(req string) string {
	f := strings.Fields(req)
	if len(f) < 2 {
		return ""
	}
	return backends.RequestIDFromPath(f[1])
}
