package triage

import (
	"encoding/json"
	"errors"
	"time"
)

// gclbParser parses Google Cloud load balancer request logs exported from
// Cloud Logging, one JSON LogEntry a line (gcloud logging read
// --format=json | jq -c '.[]'): httpRequest.status,
// httpRequest.serverIp, jsonPayload.statusDetails, timestamp.
type gclbParser struct{}

var errGCLB = errors.New("not a Google Cloud load balancer log entry")

// The statusDetails of the race: the backend closed the connection
// (its keep-alive) before the load balancer could send it the request.
const gclbRace = "backend_connection_closed_before_data_sent_to_client"

func (gclbParser) parse(line []byte, e *Entry) error {
	var j struct {
		Timestamp   string `json:"timestamp"`
		HTTPRequest *struct {
			Status   int    `json:"status"`
			ServerIP string `json:"serverIp"`
		} `json:"httpRequest"`
		JSONPayload struct {
			StatusDetails string `json:"statusDetails"`
		} `json:"jsonPayload"`
		Resource struct {
			Labels map[string]string `json:"labels"`
		} `json:"resource"`
	}
	if err := json.Unmarshal(line, &j); err != nil || j.HTTPRequest == nil {
		return errGCLB
	}
	if t, err := time.Parse(time.RFC3339Nano, j.Timestamp); err == nil {
		e.Time, e.Resolution = t, time.Microsecond
	}
	e.Status = j.HTTPRequest.Status
	e.Target = j.HTTPRequest.ServerIP
	if e.Target == "" {
		e.Target = j.Resource.Labels["backend_service_name"]
	}
	if e.Status < 500 {
		e.Class = ClassOK
		return nil
	}
	d := j.JSONPayload.StatusDetails
	e.Field = "statusDetails=" + d
	switch d {
	case gclbRace:
		e.Class = ClassRace
	case "response_sent_by_backend":
		e.Class = ClassBackend
	case "backend_timeout":
		e.Class = ClassTimeout
	case "failed_to_pick_backend", "backend_max_connections_reached":
		e.Class = ClassCapacity
	default:
		e.Class = ClassOther
	}
	return nil
}
