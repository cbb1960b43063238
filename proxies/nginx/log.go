package nginx

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// Evidence sources, as proxies.Evidence documents them.
const (
	sourceAccess = "access"
	sourceError  = "error"
)

// accessLine is one line of the racelab access log format; nginx writes
// every value as a JSON string.
type accessLine struct {
	Time               string `json:"time"`
	RequestID          string `json:"request_id"`
	Method             string `json:"method"`
	URI                string `json:"uri"`
	Status             string `json:"status"`
	UpstreamStatus     string `json:"upstream_status"`
	UpstreamAddr       string `json:"upstream_addr"`
	UpstreamConnect    string `json:"upstream_connect_time"`
	UpstreamResponse   string `json:"upstream_response_time"`
	RequestTime        string `json:"request_time"`
	Connection         string `json:"connection"`
	ConnectionRequests string `json:"connection_requests"`
}

var (
	// errorLogRE matches the error log format:
	// 2024/05/01 12:00:00 [error] 123#123: *4 message, client: ...
	errorLogRE = regexp.MustCompile(`^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[([a-z]+)\] \d+#\d+: (?:\*\d+ )?(.*)$`)
	// stderrRE matches what nginx prints before its log is set up:
	// nginx: [emerg] bind() to 127.0.0.1:80 failed (98: Address already in use)
	stderrRE = regexp.MustCompile(`^nginx: \[([a-z]+)\] (.*)$`)
	// requestRE finds the quoted request line in an error log context.
	requestRE = regexp.MustCompile(`, request: "([^"]*)"`)
)

// severe are the error log levels that are evidence even when the line
// names no request.
var severe = map[string]bool{"warn": true, "error": true, "crit": true, "alert": true, "emerg": true}

// ParseLog turns one line of nginx output into evidence. Access log lines
// become Source "access" with the status, $upstream_status and the number
// of upstream attempts; error log lines become Source "error" with the
// message and, when the line quotes a request, its request id. Lines at
// level info or notice count only when they name a request.
func (Adapter) ParseLog(line string) (proxies.Evidence, bool) {
	if strings.HasPrefix(line, "{") {
		return parseAccess(line)
	}
	return parseError(line)
}

func parseAccess(line string) (proxies.Evidence, bool) {
	var a accessLine
	if err := json.Unmarshal([]byte(line), &a); err != nil {
		return proxies.Evidence{}, false
	}
	ev := proxies.Evidence{
		Source:         sourceAccess,
		RequestID:      a.RequestID,
		UpstreamStatus: a.UpstreamStatus,
		Attempts:       countAttempts(a.UpstreamStatus),
		Raw:            line,
	}
	if ev.RequestID == "" {
		ev.RequestID = backends.RequestIDFromPath(a.URI)
	}
	ev.Status, _ = strconv.Atoi(a.Status)
	return ev, true
}

// countAttempts counts the entries of $upstream_status: nginx separates
// attempts with ", " and internal redirects with " : ".
func countAttempts(s string) int {
	n := 0
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ':' }) {
		if strings.TrimSpace(f) != "" {
			n++
		}
	}
	return n
}

func parseError(line string) (proxies.Evidence, bool) {
	m := errorLogRE.FindStringSubmatch(line)
	if m == nil {
		m = stderrRE.FindStringSubmatch(line)
	}
	if m == nil {
		return proxies.Evidence{}, false
	}
	level, text := m[1], m[2]
	ev := proxies.Evidence{Source: sourceError, Message: text, Raw: line}
	// The context nginx appends (client, server, request, upstream, host)
	// starts at ", client: ".
	if i := strings.Index(text, ", client: "); i >= 0 {
		ev.Message = text[:i]
		if r := requestRE.FindStringSubmatch(text[i:]); r != nil {
			ev.RequestID = requestIDFromLine(r[1])
		}
	}
	if ev.RequestID == "" && !severe[level] {
		return proxies.Evidence{}, false
	}
	return ev, true
}

// requestIDFromLine reads the id from a request line "GET /r/<id> HTTP/1.1".
func requestIDFromLine(reqLine string) string {
	f := strings.Fields(reqLine)
	if len(f) < 2 {
		return ""
	}
	return backends.RequestIDFromPath(f[1])
}
