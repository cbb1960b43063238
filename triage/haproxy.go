package triage

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"
)

// haproxyDate returns the index of the "[" of an httplog accept date,
// "[06/Feb/2009:12:14:14.655]", or -1.
func haproxyDate(b []byte) int {
	for off := 0; ; {
		i := bytes.IndexByte(b[off:], '[')
		if i < 0 {
			return -1
		}
		i += off
		if len(b) >= i+26 && b[i+3] == '/' && b[i+7] == '/' && b[i+12] == ':' && b[i+21] == '.' && b[i+25] == ']' {
			return i
		}
		off = i + 1
	}
}

// haproxyParser parses HAProxy's "option httplog" line (after any syslog
// header):
//
//	client:port [accept_date] frontend backend/server TR/Tw/Tc/Tr/Ta status bytes
//	  captured_request_cookie captured_response_cookie termination_state
//	  actconn/feconn/beconn/srv_conn/retries srv_queue/backend_queue {captures} "request"
type haproxyParser struct{}

var errHAProxy = errors.New("not an HAProxy httplog line")

func (haproxyParser) parse(line []byte, e *Entry) error {
	i := haproxyDate(line)
	if i < 0 {
		return errHAProxy
	}
	t, err := time.Parse("02/Jan/2006:15:04:05.000", string(line[i+1:i+25]))
	if err != nil {
		return errors.New("bad accept date")
	}
	f := strings.Fields(string(line[i+26:]))
	if len(f) < 10 {
		return errHAProxy
	}
	// f: frontend backend/server timers status bytes cookie cookie tstate conns queues ...
	server := f[1]
	timers := strings.Split(f[2], "/")
	status, err := strconv.Atoi(f[3])
	tstate := f[7]
	if err != nil || len(timers) != 5 || !strings.Contains(server, "/") || len(tstate) != 4 && len(tstate) != 2 {
		return errHAProxy
	}
	// The request left HAProxy after TR, Tw and Tc.
	for _, x := range timers[:3] {
		if v, err := strconv.Atoi(x); err == nil && v > 0 {
			t = t.Add(time.Duration(v) * time.Millisecond)
		}
	}
	e.Time, e.Resolution, e.Status, e.Target = t, time.Millisecond, status, server
	if status < 500 {
		e.Class = ClassOK
		return nil
	}
	field := "termination_state=" + tstate + " Tr=" + timers[3]
	switch {
	case tstate[0] == 'S' && tstate[1] == 'H':
		// The server aborted before sending complete headers.
		e.Class = ClassRace
	case tstate[1] == 'Q' || strings.HasSuffix(server, "/<NOSRV>"):
		// Queued too long, or no server to pick.
		e.Class = ClassCapacity
	case tstate[0] == 's':
		e.Class = ClassTimeout
	case tstate[0] == '-' && tstate[1] == '-':
		e.Class = ClassBackend
	default:
		e.Class = ClassOther
	}
	e.Field = field
	return nil
}
