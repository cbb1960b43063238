package squid

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// AccessLine is one parsed access line of the rendered logformat. Values
// Squid logs as "-" are empty (Status and SourcePort 0).
type AccessLine struct {
	RequestID string
	Status    int
	// Code is Squid's result code ("TCP_MISS", "TCP_MISS_ABORTED").
	Code string
	// Hierarchy is how the request was forwarded: "FIRSTUP_PARENT" when it
	// reached the peer, "HIER_NONE" when no server answered.
	Hierarchy string
	// SourcePort is Squid's local port on the last server connection.
	SourcePort int
	// Error is the error page Squid answered with ("ERR_ZERO_SIZE_OBJECT",
	// "ERR_READ_ERROR"), Detail its detail ("WITH_SERVER").
	Error, Detail string
	Method, URL   string
	Raw           string
}

// Evidence is the line as proxies.Evidence: "access" evidence with the
// status, the result and hierarchy codes as Details ("TCP_MISS/HIER_NONE"),
// and the error page, when Squid answered with one, as Message and as
// Flags, Squid's word for how the request ended
// ("ERR_ZERO_SIZE_OBJECT/WITH_SERVER").
func (a AccessLine) Evidence() proxies.Evidence {
	ev := proxies.Evidence{Source: "access", RequestID: a.RequestID, Status: a.Status, Raw: a.Raw,
		Details: a.Code + "/" + a.Hierarchy}
	if a.Error != "" {
		ev.Message = a.Error
		if a.Detail != "" {
			ev.Message += "/" + a.Detail
		}
		ev.Flags = ev.Message
	}
	return ev
}

var accessRE = regexp.MustCompile(`^` + LogPrefix + ` id=(\S*) st=(-|\d+) code=(\S*) hier=(\S*) sport=(\S*) err=([^/\s]*)/(\S*) req="(\S*) (.*)"$`)

// ParseAccessLine parses a line written with the rendered logformat; ok is
// false for any other line.
func ParseAccessLine(line string) (a AccessLine, ok bool) {
	line = strings.TrimRight(line, "\r\n")
	m := accessRE.FindStringSubmatch(line)
	if m == nil {
		return AccessLine{}, false
	}
	dash := func(s string) string {
		if s == "-" {
			return ""
		}
		return s
	}
	a = AccessLine{RequestID: dash(m[1]), Code: dash(m[3]), Hierarchy: dash(m[4]),
		Error: dash(m[6]), Detail: dash(m[7]), Method: m[8], URL: m[9], Raw: line}
	a.Status, _ = strconv.Atoi(m[2])
	a.SourcePort, _ = strconv.Atoi(m[5])
	if a.RequestID == "" {
		a.RequestID = backends.RequestIDFromPath(pathOf(a.URL))
	}
	return a, true
}

// pathOf is the path of an absolute URL as Squid logs it
// ("http://racelab/r/1" gives "/r/1").
func pathOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
		if j := strings.IndexByte(u, '/'); j >= 0 {
			return u[j:]
		}
		return "/"
	}
	return u
}

// ParseLog turns an access line into evidence; cache.log messages carry
// none.
func (Adapter) ParseLog(line string) (proxies.Evidence, bool) {
	a, ok := ParseAccessLine(line)
	if !ok {
		return proxies.Evidence{}, false
	}
	return a.Evidence(), true
}
