package apache

import (
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

var (
	// accessRE matches the rendered LogFormat.
	accessRE = regexp.MustCompile(`^` + LogPrefix + ` id="([^"]*)" st=(-|\d+) method=(\S+) uri="([^"]*)" keepalives=(\d+) us=(\d+)`)
	// errorRE matches the rendered ErrorLogFormat; the message starts with
	// its AH code ("AH01102: error reading status line from remote
	// server 127.0.0.1:8080").
	errorRE = regexp.MustCompile(`^` + ErrorPrefix + ` \[([^\]]*)\] \[id ([^\]]*)\] (.*)$`)
	// stderrRE matches what httpd prints before its log is set up:
	// "AH00526: Syntax error on line 3 of /dir/apache2.conf:".
	stderrRE = regexp.MustCompile(`^(?:\[[^\]]*\] )*(AH\d{5}: .*)$`)
)

// ParseLog turns one line of Apache's output into evidence. Access lines
// (the rendered CustomLog on stdout) become Source "access" with the
// status Apache answered; error log lines (stderr) become Source "error"
// with the message, AH code first, and the request id from the request
// header. Lines httpd writes before its error log is open count when
// they carry an AH code.
func (Adapter) ParseLog(line string) (proxies.Evidence, bool) {
	if m := accessRE.FindStringSubmatch(line); m != nil {
		ev := proxies.Evidence{Source: sourceAccess, RequestID: requestID(m[1], m[4]), Raw: line}
		ev.Status, _ = strconv.Atoi(m[2])
		return ev, true
	}
	if m := errorRE.FindStringSubmatch(line); m != nil {
		level := m[1]
		if i := strings.IndexByte(level, ':'); i >= 0 {
			level = level[i+1:] // "proxy_http:error" names the module
		}
		ev := proxies.Evidence{Source: sourceError, RequestID: requestID(m[2], ""), Message: m[3], Raw: line}
		if ev.RequestID == "" && !severe[level] {
			return proxies.Evidence{}, false
		}
		return ev, true
	}
	if m := stderrRE.FindStringSubmatch(line); m != nil {
		return proxies.Evidence{Source: sourceError, Message: m[1], Raw: line}, true
	}
	return proxies.Evidence{}, false
}

// severe are the levels that are evidence even when the line names no
// request.
var severe = map[string]bool{"warn": true, "error": true, "crit": true, "alert": true, "emerg": true}

// requestID is the logged header value, else the id in the path; Apache
// logs a missing header as "-".
func requestID(header, uri string) string {
	if header != "" && header != "-" {
		return header
	}
	return backends.RequestIDFromPath(uri)
}
