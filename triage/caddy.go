package triage

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// caddyParser parses Caddy's JSON logs: access lines (logger
// "http.log.access...", msg "handled request") and error lines (logger
// "http.log.error...", msg the Go transport's error), which Caddy writes
// just before the access line of the same request. The error line's
// message tells the race: "EOF" or a reset on a reused connection.
type caddyParser struct {
	pending map[string]caddyEvent
	errors  int
}

type caddyEvent struct {
	ts    float64
	class Class
	field string
}

func newCaddyParser() *caddyParser { return &caddyParser{pending: map[string]caddyEvent{}} }

var errCaddy = errors.New("not a Caddy JSON log line")

// maxCaddyPending bounds the error lines waiting for their access line.
const maxCaddyPending = 10000

func (p *caddyParser) parse(line []byte, e *Entry) error {
	var j struct {
		TS      float64 `json:"ts"`
		Logger  string  `json:"logger"`
		Msg     string  `json:"msg"`
		Status  int     `json:"status"`
		Request struct {
			RemoteIP   string `json:"remote_ip"`
			RemotePort string `json:"remote_port"`
			Method     string `json:"method"`
			URI        string `json:"uri"`
		} `json:"request"`
	}
	if err := json.Unmarshal(line, &j); err != nil || j.TS == 0 {
		return errCaddy
	}
	if !strings.HasPrefix(j.Logger, "http.log.access") && !strings.HasPrefix(j.Logger, "http.log.error") {
		return nil // Caddy's other loggers (startup, TLS, admin): not requests
	}
	key := j.Request.RemoteIP + ":" + j.Request.RemotePort + " " + j.Request.Method + " " + j.Request.URI
	if strings.HasPrefix(j.Logger, "http.log.error") {
		p.errors++
		if len(p.pending) >= maxCaddyPending {
			clear(p.pending)
		}
		c := ClassOther
		m := strings.ToLower(j.Msg)
		switch {
		case m == "eof" || strings.Contains(m, "unexpected eof") || strings.Contains(m, "connection reset by peer") || strings.Contains(m, "server closed idle connection"):
			c = ClassRace
		case strings.Contains(m, "timeout") || strings.Contains(m, "deadline exceeded"):
			c = ClassTimeout
		case strings.Contains(m, "no upstreams available"):
			c = ClassCapacity
		}
		p.pending[key] = caddyEvent{ts: j.TS, class: c, field: "error msg=" + strconv.Quote(j.Msg)}
		return nil // evidence, not a request
	}
	if j.Status == 0 {
		return errCaddy
	}
	sec, frac := math.Modf(j.TS)
	if j.TS > 0 {
		e.Time, e.Resolution = time.Unix(int64(sec), int64(frac*1e9)), time.Microsecond
	}
	e.Status = j.Status
	if e.Status < 500 {
		e.Class = ClassOK
		return nil
	}
	ev, ok := p.pending[key]
	if ok && math.Abs(j.TS-ev.ts) <= 2 {
		delete(p.pending, key)
		e.Class, e.Field = ev.class, ev.field
		return nil
	}
	if p.errors > 0 {
		e.Class, e.Field = ClassBackend, "status "+strconv.Itoa(e.Status)+" with no error line: the backend sent it"
		return nil
	}
	e.Class, e.Field = byStatus(e.Status, "no error line: ")
	return nil
}
