package triage

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"
)

// nginx's error log tells the race apart from every other 502: the
// access log's combined format has only the status. These are the
// messages of ngx_http_upstream.c (checked on nginx 1.22 with racelab).
var (
	// The backend closed (FIN) or reset (RST) a connection nginx had just
	// written the request on, before any response header: what a pooled
	// connection the backend's keep-alive closed looks like.
	nginxRace = []string{
		"upstream prematurely closed connection while reading response header from upstream",
		"(104: Connection reset by peer) while reading response header from upstream",
		"(104: Connection reset by peer) while sending request to upstream",
		"(32: Broken pipe) while sending request to upstream",
	}
	nginxTimeout  = []string{"upstream timed out"}
	nginxCapacity = []string{"limiting requests", "limiting connections", "no live upstreams"}
)

// nginxEvent is one upstream error from the error log.
type nginxEvent struct {
	wall  int64 // wall-clock seconds as written (no zone)
	class Class
	field string
	used  bool
}

// nginxErrors indexes error-log events by client and request line, for
// the access lines they explain. Only error lines are kept: memory grows
// with the failures, not the traffic.
type nginxErrors struct {
	byKey map[string][]*nginxEvent
	n     int
}

func newNginxErrors() *nginxErrors { return &nginxErrors{byKey: map[string][]*nginxEvent{}} }

// maxNginxEvents bounds the index (a pathological error log).
const maxNginxEvents = 1 << 20

func (x *nginxErrors) match(client, request string, wall int64) *nginxEvent {
	for _, ev := range x.byKey[client+"\x00"+request] {
		if !ev.used && wall >= ev.wall-1 && wall <= ev.wall+2 {
			ev.used = true
			return ev
		}
	}
	return nil
}

// isNginxErrorLine: "2026/12/05 23:43:09 [error] ...".
func isNginxErrorLine(b []byte) bool {
	return len(b) > 21 && b[4] == '/' && b[7] == '/' && b[10] == ' ' && b[13] == ':' && b[19] == ' ' && b[20] == '['
}

// nginxErrorReader adds error-log lines to the index.
type nginxErrorReader struct{ errs *nginxErrors }

func (r *nginxErrorReader) parse(line []byte, e *Entry) error {
	if !isNginxErrorLine(line) {
		return errors.New("not an nginx error log line")
	}
	t, err := time.Parse("2006/01/02 15:04:05", string(line[:19]))
	if err != nil {
		return errors.New("bad error log time")
	}
	s := string(line)
	msg := s
	if i := strings.Index(s, ": *"); i >= 0 {
		msg = s[i+3:]
		if j := strings.IndexByte(msg, ' '); j >= 0 {
			msg = msg[j+1:]
		}
	}
	var class Class
	switch {
	case containsAny(msg, nginxRace):
		class = ClassRace
	case containsAny(msg, nginxTimeout):
		class = ClassTimeout
	case containsAny(msg, nginxCapacity):
		class = ClassCapacity
	case strings.Contains(msg, "upstream"):
		class = ClassOther
	default:
		return nil // not about an upstream: startup notices, client errors
	}
	client := quotedAfter(s, ", client: ", false)
	request := quotedAfter(s, ", request: ", true)
	if client == "" || request == "" {
		return nil // no request to join to
	}
	text := msg
	if i := strings.Index(text, ", client: "); i >= 0 {
		text = text[:i]
	}
	if r.errs.n >= maxNginxEvents {
		return nil
	}
	r.errs.n++
	key := client + "\x00" + request
	r.errs.byKey[key] = append(r.errs.byKey[key], &nginxEvent{
		wall:  t.Unix(),
		class: class,
		field: "error.log: " + text,
	})
	return nil
}

// quotedAfter returns the value after label: up to the next ", " or, when
// quoted, the text between quotes.
func quotedAfter(s, label string, quoted bool) string {
	i := strings.Index(s, label)
	if i < 0 {
		return ""
	}
	v := s[i+len(label):]
	if quoted {
		if len(v) < 2 || v[0] != '"' {
			return ""
		}
		j := strings.Index(v[1:], `", `)
		if j < 0 {
			if strings.HasSuffix(v, `"`) {
				return v[1 : len(v)-1]
			}
			return ""
		}
		return v[1 : j+1]
	}
	if j := strings.Index(v, ", "); j >= 0 {
		return v[:j]
	}
	return v
}

func containsAny(s string, subs []string) bool {
	for _, x := range subs {
		if strings.Contains(s, x) {
			return true
		}
	}
	return false
}

// nginxAccess parses the combined format:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// and anything appended after it. The time is cached: consecutive lines
// usually share their second.
type nginxAccess struct {
	errs     *nginxErrors
	lastRaw  [32]byte
	lastLen  int
	lastT    time.Time
	lastWall int64
}

var errNginxAccess = errors.New("not an nginx combined access line")

func (p *nginxAccess) parse(line []byte, e *Entry) error {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return errNginxAccess
	}
	client := line[:sp]
	lb := bytes.IndexByte(line[sp:], '[')
	if lb < 0 {
		return errNginxAccess
	}
	lb += sp
	rest := line[lb+1:]
	rb := bytes.IndexByte(rest, ']')
	if rb < 0 {
		return errNginxAccess
	}
	ts := rest[:rb]
	if err := p.time(ts); err != nil {
		return err
	}
	rest = rest[rb+1:]
	if len(rest) < 2 || rest[0] != ' ' || rest[1] != '"' {
		return errNginxAccess
	}
	rest = rest[2:]
	// The request ends at the quote followed by " NNN ".
	end := -1
	for off := 0; ; {
		q := bytes.Index(rest[off:], []byte(`" `))
		if q < 0 {
			break
		}
		q += off
		if len(rest) >= q+6 && isDigits(rest[q+2:q+5]) && (len(rest) == q+5 || rest[q+5] == ' ') {
			end = q
			break
		}
		off = q + 1
	}
	if end < 0 {
		if len(rest) >= 5 && rest[len(rest)-5] == '"' {
			return errNginxAccess
		}
		return errNginxAccess
	}
	request := rest[:end]
	status := atoi3(rest[end+2 : end+5])
	e.Time = p.lastT
	e.Resolution = time.Second
	e.Status = status
	if status < 500 {
		e.Class = ClassOK
		return nil
	}
	ev := p.errs.match(string(client), string(request), p.lastWall)
	switch {
	case ev != nil:
		e.Class, e.Field = ev.class, ev.field
	case p.errs.n > 0:
		e.Class, e.Field = ClassBackend, "status "+strconv.Itoa(status)+" with no upstream error in error.log: the backend sent it"
	default:
		e.Class, e.Field = byStatus(status, "no error log given: ")
	}
	return nil
}

// time parses "05/Dec/2026:23:40:25 +0000", reusing the last result when
// the bytes repeat.
func (p *nginxAccess) time(ts []byte) error {
	if len(ts) == p.lastLen && len(ts) <= len(p.lastRaw) && bytes.Equal(ts, p.lastRaw[:p.lastLen]) {
		return nil
	}
	t, err := time.Parse("02/Jan/2006:15:04:05 -0700", string(ts))
	if err != nil {
		return errors.New("bad [time_local]")
	}
	if len(ts) <= len(p.lastRaw) {
		p.lastLen = copy(p.lastRaw[:], ts)
	} else {
		p.lastLen = 0
	}
	p.lastT = t
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	p.lastWall = time.Date(y, mo, d, h, mi, s, 0, time.UTC).Unix()
	return nil
}

// byStatus classifies a 5xx from its status alone.
func byStatus(status int, why string) (Class, string) {
	s := strconv.Itoa(status)
	switch status {
	case 504:
		return ClassTimeout, why + "status 504"
	case 503:
		return ClassCapacity, why + "status 503"
	case 502:
		return ClassOther, why + "status 502 (the race cannot be told apart without the proxy's cause)"
	}
	return ClassBackend, why + "status " + s
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func atoi3(b []byte) int {
	return int(b[0]-'0')*100 + int(b[1]-'0')*10 + int(b[2]-'0')
}
