package envoy

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// The driver's request id header and path prefix, as the backends package
// defines them (backends.RequestIDHeader, backends.PathPrefix). They are
// repeated here so that rendering a bootstrap needs nothing from the
// backend; a test keeps them equal.
const (
	requestIDHeader = "X-Racelab-Request-Id"
	pathPrefix      = "/r/"
)

// Keys of the access log's JSON object. Envoy renders json_format values
// typed: numbers for the status and the attempt count, null for a value
// it does not have.
const (
	LogRequestID       = "request_id"
	LogMethod          = "method"
	LogPath            = "path"
	LogStatus          = "status"
	LogFlags           = "flags"
	LogDetails         = "details"
	LogAttempts        = "attempts"
	LogTransportReason = "upstream_transport_failure"
	LogRoute           = "route"
	LogUpstreamHost    = "upstream_host"
	LogUpstreamLocal   = "upstream_local_address"
	LogDurationMS      = "duration_ms"
	LogStartTime       = "start_time"
)

// AccessLogFormat is the json_format of the rendered stdout access log:
// one JSON object per request. The upstream local address names the
// pooled connection the request went out on, as the backend sees its peer.
func AccessLogFormat() map[string]string {
	return map[string]string{
		LogRequestID:       "%REQ(" + strings.ToUpper(requestIDHeader) + ")%",
		LogMethod:          "%REQ(:METHOD)%",
		LogPath:            "%REQ(:PATH)%",
		LogStatus:          "%RESPONSE_CODE%",
		LogFlags:           "%RESPONSE_FLAGS%",
		LogDetails:         "%RESPONSE_CODE_DETAILS%",
		LogAttempts:        "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
		LogTransportReason: "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
		LogRoute:           "%ROUTE_NAME%",
		LogUpstreamHost:    "%UPSTREAM_HOST%",
		LogUpstreamLocal:   "%UPSTREAM_LOCAL_ADDRESS%",
		LogDurationMS:      "%DURATION%",
		LogStartTime:       "%START_TIME%",
	}
}

// ParseLog turns one access-log line into evidence: Source "access", the
// request id (from the header, or from the path when the header is
// missing), the status, the response flags ("UC"), the response code
// details, the upstream attempt count and, as Message, the upstream
// transport failure reason. Envoy's own log lines, and any line that is
// not an access-log object, give ok false.
func (Adapter) ParseLog(line string) (proxies.Evidence, bool) {
	raw := strings.TrimSpace(line)
	if !strings.HasPrefix(raw, "{") {
		return proxies.Evidence{}, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &fields); err != nil {
		return proxies.Evidence{}, false
	}
	// The status and the flags together mark racelab's access-log format.
	if _, ok := fields[LogStatus]; !ok {
		return proxies.Evidence{}, false
	}
	if _, ok := fields[LogFlags]; !ok {
		return proxies.Evidence{}, false
	}
	ev := proxies.Evidence{
		Source:    "access",
		RequestID: logString(fields[LogRequestID]),
		Status:    logInt(fields[LogStatus]),
		Flags:     logString(fields[LogFlags]),
		Details:   logString(fields[LogDetails]),
		Attempts:  logInt(fields[LogAttempts]),
		Message:   logString(fields[LogTransportReason]),
		Raw:       raw,
	}
	if ev.RequestID == "" {
		ev.RequestID = backends.RequestIDFromPath(logString(fields[LogPath]))
	}
	return ev, true
}

// logString reads a string value; Envoy's "-" and null mean no value.
func logString(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '"' {
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil || s == "-" {
		return ""
	}
	return s
}

// logInt reads a number that Envoy renders typed (503) or, from an
// untyped formatter, as a string ("503"); anything else is 0.
func logInt(v json.RawMessage) int {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0
	}
	s := string(v)
	if v[0] == '"' {
		s = logString(v)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
