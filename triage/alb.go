package triage

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"
)

// albParser parses the AWS Application Load Balancer access log:
//
//	type time elb client:port target:port request_processing_time
//	target_processing_time response_processing_time elb_status_code
//	target_status_code received_bytes sent_bytes "request" "user_agent"
//	ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name"
//	"chosen_cert_arn" matched_rule_priority request_creation_time
//	"actions_executed" "redirect_url" "error_reason" ...
type albParser struct{}

var errALB = errors.New("not an ALB access log line")

var albTypes = []string{"http ", "https ", "h2 ", "grpcs ", "ws ", "wss "}

func isALBLine(b []byte) bool {
	for _, t := range albTypes {
		if bytes.HasPrefix(b, []byte(t)) && len(b) > len(t)+20 && b[len(t)+4] == '-' && b[len(t)+10] == 'T' {
			return true
		}
	}
	return false
}

// splitQuoted splits on spaces, keeping "quoted fields" whole (quotes
// removed).
func splitQuoted(s string, max int) []string {
	var out []string
	for len(s) > 0 && len(out) < max {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		if s[0] == '"' {
			j := strings.IndexByte(s[1:], '"')
			if j < 0 {
				out = append(out, s[1:])
				break
			}
			out = append(out, s[1:j+1])
			s = s[j+2:]
			continue
		}
		j := strings.IndexByte(s, ' ')
		if j < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:j])
		s = s[j+1:]
	}
	return out
}

func (albParser) parse(line []byte, e *Entry) error {
	if !isALBLine(line) {
		return errALB
	}
	f := splitQuoted(string(line), 30)
	if len(f) < 13 {
		return errALB
	}
	t, err := time.Parse(time.RFC3339Nano, f[1])
	if err != nil {
		return errors.New("bad ALB time")
	}
	if len(f) > 21 {
		// request_creation_time: when the request came in.
		if rt, err := time.Parse(time.RFC3339Nano, f[21]); err == nil {
			t = rt
		}
	}
	elb, err := strconv.Atoi(f[8])
	if err != nil {
		if f[8] != "-" {
			return errALB
		}
		elb = 0
	}
	target, tstatus := f[4], f[9]
	e.Time, e.Resolution, e.Status = t, time.Microsecond, elb
	if target != "-" {
		e.Target = target
	}
	if elb < 500 {
		e.Class = ClassOK
		return nil
	}
	e.Field = "elb_status_code=" + f[8] + " target_status_code=" + tstatus + " target_processing_time=" + f[6]
	if len(f) > 24 && f[24] != "-" && f[24] != "" {
		e.Field += " error_reason=" + f[24]
	}
	ts, terr := strconv.Atoi(tstatus)
	switch {
	case terr == nil && ts >= 500:
		e.Class = ClassBackend
	case elb == 502 && tstatus == "-" && target != "-":
		// A target was chosen and sent no response: it closed the
		// connection (or reset it) before answering.
		e.Class = ClassRace
	case elb == 504:
		e.Class = ClassTimeout
	case elb == 503:
		e.Class = ClassCapacity
	default:
		e.Class = ClassOther
	}
	return nil
}
