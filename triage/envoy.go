package triage

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// envoyParser parses Envoy's default access log format
//
//	[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//	%RESPONSE_CODE% %RESPONSE_FLAGS% ... "%UPSTREAM_HOST%"
//
// (also Istio's, which puts %RESPONSE_CODE_DETAILS% after the flags), and
// JSON lines with Envoy's field names (start_time, response_code,
// response_flags, response_code_details, upstream_host).
type envoyParser struct{}

var errEnvoy = errors.New("not an Envoy access log line")

const envoyRaceDetails = "upstream_reset_before_response_started{connection_termination}"

func (envoyParser) parse(line []byte, e *Entry) error {
	var start, flags, details, host string
	var status int
	if len(line) > 0 && line[0] == '{' {
		var j struct {
			StartTime    string          `json:"start_time"`
			ResponseCode json.RawMessage `json:"response_code"`
			Flags        string          `json:"response_flags"`
			Details      string          `json:"response_code_details"`
			UpstreamHost string          `json:"upstream_host"`
		}
		if err := json.Unmarshal(line, &j); err != nil || j.ResponseCode == nil {
			return errEnvoy
		}
		code := strings.Trim(string(j.ResponseCode), `"`)
		n, err := strconv.Atoi(code)
		if err != nil {
			return errEnvoy
		}
		start, flags, details, host, status = j.StartTime, j.Flags, j.Details, j.UpstreamHost, n
	} else {
		s := string(line)
		if len(s) < 2 || s[0] != '[' {
			return errEnvoy
		}
		rb := strings.IndexByte(s, ']')
		if rb < 0 {
			return errEnvoy
		}
		start = s[1:rb]
		rest := strings.TrimLeft(s[rb+1:], " ")
		if !strings.HasPrefix(rest, `"`) {
			return errEnvoy
		}
		q := strings.Index(rest[1:], `" `)
		if q < 0 {
			return errEnvoy
		}
		tok := strings.Fields(rest[q+3:])
		if len(tok) < 2 {
			return errEnvoy
		}
		n, err := strconv.Atoi(tok[0])
		if err != nil {
			return errEnvoy
		}
		status, flags = n, tok[1]
		if len(tok) > 2 && strings.ContainsAny(tok[2], "_abcdefghijklmnopqrstuvwxyz") && !strings.HasPrefix(tok[2], `"`) {
			details = tok[2]
		}
		// UPSTREAM_HOST: the last quoted host:port (Istio appends unquoted
		// addresses after it).
		for i := len(tok) - 1; i >= 0; i-- {
			if len(tok[i]) < 2 || tok[i][0] != '"' || tok[i][len(tok[i])-1] != '"' {
				continue
			}
			v := strings.Trim(tok[i], `"`)
			if isHostPort(strings.TrimPrefix(v, "tcp://")) {
				host = v
				break
			}
		}
	}
	t, err := time.Parse(time.RFC3339Nano, start)
	if err == nil {
		e.Time, e.Resolution = t, time.Millisecond
	}
	e.Status, e.Target = status, host
	if host == "-" {
		e.Target = ""
	}
	if status < 500 {
		e.Class = ClassOK
		return nil
	}
	e.Field = "response_flags=" + flags
	if details != "" && details != "-" {
		e.Field += " response_code_details=" + details
	}
	has := func(f string) bool {
		for _, x := range strings.Split(flags, ",") {
			if x == f {
				return true
			}
		}
		return false
	}
	switch {
	case has("UC") || strings.Contains(details, envoyRaceDetails):
		e.Class = ClassRace
	case has("UT"):
		e.Class = ClassTimeout
	case has("UO") || has("UH") || has("RL"):
		e.Class = ClassCapacity
	case flags == "-" && (details == "" || details == "-" || details == "via_upstream"):
		e.Class = ClassBackend
	default:
		e.Class = ClassOther
	}
	return nil
}

func isHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return false
	}
	_, err := strconv.Atoi(s[i+1:])
	return err == nil
}
