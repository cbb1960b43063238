package varnish

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// Line is one parsed varnishncsa line of the rendered format. Values
// varnishncsa prints as "-" are empty (SourcePort 0).
type Line struct {
	// Side is "c" for a client request, "b" for a backend fetch.
	Side string
	// RequestID is the X-Racelab-Request-Id header, or the id in a
	// "/r/<id>" path when the header is absent.
	RequestID string
	// Status is the status sent to the client (c) or the backend
	// response's status (b), which is 503 when the fetch failed and
	// Varnish made one up.
	Status int
	// Open is how the fetch's first backend connection was got: "reuse"
	// (a recycled, pooled connection) or "connect".
	Open string
	// SourcePort is Varnish's local port on that connection.
	SourcePort int
	// FetchError is the fetch's first FetchError record ("HTC eof (-1)").
	FetchError string
	Method     string
	URL        string
	Raw        string
}

// Retried reports whether the fetch failed once and went on to a backend
// response anyway: the only retry the rendered VCL has is Varnish's own
// retry of a recycled connection, so that is what happened.
func (l Line) Retried() bool {
	return l.Side == "b" && l.FetchError != "" && l.Status != 503
}

// Evidence is the line as proxies.Evidence: a client line is the
// request's "access" evidence; a backend line with a FetchError is
// "error" evidence (Message: the error, Details: "open=reuse"), one
// without is "backend" evidence.
func (l Line) Evidence() proxies.Evidence {
	ev := proxies.Evidence{RequestID: l.RequestID, Raw: l.Raw}
	if l.Side == "c" {
		ev.Source, ev.Status = "access", l.Status
		return ev
	}
	ev.Source, ev.UpstreamStatus = "backend", strconv.Itoa(l.Status)
	if l.Open != "" {
		ev.Details = "open=" + l.Open
	}
	switch {
	case l.FetchError == "":
		ev.Attempts = 1
	case l.Retried():
		ev.Source, ev.Message, ev.Attempts = "error", l.FetchError, 2
		ev.UpstreamStatus = "503, " + strconv.Itoa(l.Status)
	default:
		ev.Source, ev.Message = "error", l.FetchError
	}
	return ev
}

var lineRE = regexp.MustCompile(`^` + LogPrefix + ` side=([cb]) id=(\S*) st=(-|\d+) open=(\S*) sport=(\S*) err="(.*?)" req="(\S*) (.*)"$`)

// ParseLine parses a line varnishncsa wrote with the rendered format; ok
// is false for any other line.
func ParseLine(line string) (l Line, ok bool) {
	line = strings.TrimRight(line, "\r\n")
	m := lineRE.FindStringSubmatch(line)
	if m == nil {
		return Line{}, false
	}
	dash := func(s string) string {
		if s == "-" {
			return ""
		}
		return s
	}
	l = Line{Side: m[1], RequestID: dash(m[2]), Open: dash(m[4]), FetchError: dash(m[6]),
		Method: m[7], URL: m[8], Raw: line}
	l.Status, _ = strconv.Atoi(m[3])
	l.SourcePort, _ = strconv.Atoi(m[5])
	if l.RequestID == "" {
		l.RequestID = backends.RequestIDFromPath(l.URL)
	}
	return l, true
}

// ParseLog turns a varnishncsa line into evidence; varnishd's own output
// (child start and stop notices) carries none.
func (Adapter) ParseLog(line string) (proxies.Evidence, bool) {
	l, ok := ParseLine(line)
	if !ok {
		return proxies.Evidence{}, false
	}
	return l.Evidence(), true
}
