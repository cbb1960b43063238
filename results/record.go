package results

import (
	"time"

	"github.com/racelab/racelab/proxies"
)

// Outcome is the class of one trial. A 502 count alone is wrong: HAProxy
// drops the client connection, Envoy answers 503, nginx and Go retry
// silently. Every trial lands in exactly one class.
type Outcome string

const (
	OK                 Outcome = "ok"
	OKAfterHiddenRetry Outcome = "ok_after_hidden_retry"
	// NotReused: the victim was answered, but it did not go out on the
	// pooled connection: the proxy kept that one open and opened another
	// (HAProxy http-reuse safe for a new client), or closed it right after
	// its response (no pooling: nginx before 1.29.7 without keepalive).
	// The race cannot happen there; it is not a fix.
	NotReused     Outcome = "not_reused"
	Proxy502      Outcome = "proxy_502"
	Proxy503      Outcome = "proxy_503"
	Proxy504      Outcome = "proxy_504"
	ClientEOF     Outcome = "client_eof"
	ClientReset   Outcome = "client_reset"
	ClientTimeout Outcome = "client_timeout"
	Backend5xx    Outcome = "backend_5xx"
	Other         Outcome = "other"
)

// Outcomes lists every class in report order.
var Outcomes = []Outcome{OK, OKAfterHiddenRetry, NotReused, Proxy502, Proxy503, Proxy504, ClientEOF, ClientReset, ClientTimeout, Backend5xx, Other}

// Failed reports whether the client saw a failure the proxy caused: every
// class but ok, ok_after_hidden_retry, not_reused and backend_5xx (the
// backend's own answer, the negative control).
func (o Outcome) Failed() bool {
	switch o {
	case OK, OKAfterHiddenRetry, NotReused, Backend5xx:
		return false
	}
	return true
}

// Line types of a results file.
const (
	TypeManifest = "manifest"
	TypeCell     = "cell"
	TypeTrial    = "trial"
	TypeCellEnd  = "cell_end"
)

// Manifest opens every results file: what ran, where, with what.
type Manifest struct {
	Type      string    `json:"type"`
	RunID     string    `json:"run"`
	Scenario  string    `json:"scenario"`
	Started   time.Time `json:"started"`
	Racelab   string    `json:"racelab_version"`
	GoVersion string    `json:"go_version"`
	OS        string    `json:"os"`
	Seed      int64     `json:"seed"`
	Timescale float64   `json:"timescale"`
	Args      []string  `json:"args,omitempty"`
}

// Cell describes one matrix point; written when the cell starts so that a
// results file renders without its scenario.
type Cell struct {
	Type string `json:"type"`
	ID   string `json:"cell"`
	// Index is the cell's place in its scenario's matrix: a run lists its
	// cells in this order whatever order they started in.
	Index int `json:"index"`
	// Params are the cell's axis values as strings, for tables and selectors.
	Params map[string]string `json:"params"`
	// Proxy facts once the proxy started: kind, version, runtime, image id.
	Proxy map[string]string `json:"proxy,omitempty"`
	// Error is set on a cell_end line when the cell could not run to the end.
	Error string `json:"error,omitempty"`
	// Note carries measured facts about the cell (e.g. HAProxy's effective
	// idle lifetime).
	Note string `json:"note,omitempty"`
	// Config is set on the cell_end line of a cell that ran a user's own
	// proxy configuration.
	Config *ConfigFacts `json:"config,omitempty"`
	// Runtime is set on the cell_end line of a cell whose backend is a
	// real runtime: its name, version, keep-alive configured, documented
	// default, measured idle close (median and samples) and close style.
	Runtime map[string]string `json:"runtime,omitempty"`
}

// ConfigFacts is what racelab made of a user's proxy configuration: the
// request that routes to the upstream under test, every change racelab
// made to the file, and the file's own settings for that upstream.
type ConfigFacts struct {
	Path     string                     `json:"path"`
	Upstream string                     `json:"upstream,omitempty"`
	Route    proxies.Route              `json:"route"`
	Changes  []proxies.Change           `json:"changes"`
	Settings map[string]proxies.Setting `json:"settings,omitempty"`
	// Gap is the idle gap the victims were sent after, placed by the
	// file's own idle timeout (deterministic mode, scaled).
	GapNS int64 `json:"gap_ns,omitempty"`
}

// Record is one trial. Plain and serialisable: errors are strings,
// durations are nanoseconds.
type Record struct {
	Type      string    `json:"type"`
	RunID     string    `json:"run"`
	Cell      string    `json:"cell"`
	Seq       int       `json:"seq"`
	Time      time.Time `json:"time"`
	Mode      string    `json:"mode"`
	Method    string    `json:"method"`
	Client    string    `json:"client"`
	RequestID string    `json:"request_id"`
	// FaultArmed is true when the victim carried the fault header: the
	// backend would close the connection if the proxy reused it.
	FaultArmed bool `json:"fault_armed,omitempty"`
	// GapScheduledNS and GapActualNS are the idle gap between the priming
	// response and the victim request.
	GapScheduledNS int64 `json:"gap_scheduled_ns"`
	GapActualNS    int64 `json:"gap_actual_ns"`
	// OffsetNS (timing mode) is the victim's send time minus the backend's
	// idle deadline for the pooled connection, both on this process's
	// monotonic clock. Negative: sent before the backend's timer was due.
	OffsetNS *int64 `json:"offset_ns,omitempty"`
	// ScheduledOffsetNS is the offset the driver aimed for.
	ScheduledOffsetNS *int64 `json:"scheduled_offset_ns,omitempty"`

	Status      int     `json:"status"`
	Outcome     Outcome `json:"outcome"`
	LatencyNS   int64   `json:"latency_ns"`
	ClientError string  `json:"client_error,omitempty"`

	// Attributed is true only when backend evidence shows the stale
	// connection race: the backend closed (or was closing) the connection
	// the proxy reused, near the request, and no handler answered it.
	Attributed  bool   `json:"attributed"`
	Attribution string `json:"attribution,omitempty"`
	// HiddenRetry: the client saw success but the backend saw the request
	// die on one connection and arrive again on another.
	HiddenRetry bool `json:"hidden_retry,omitempty"`
	// Executions is how many times a handler ran for this request id.
	Executions int `json:"executions"`
	// Duplicate: the handler ran more than once for this request id.
	Duplicate bool `json:"duplicate,omitempty"`

	// PrimeError is set when the priming request failed: the victim then
	// went out with no known pooled connection.
	PrimeError string `json:"prime_error,omitempty"`
	// PrimeRetried is set when the first priming request failed and a
	// second one went out (what the first met); the trial then measured
	// as usual.
	PrimeRetried string `json:"prime_retried,omitempty"`
	// BackendRestarted: the backend restarted gracefully just before the
	// victim left (a residual-race scenario).
	BackendRestarted bool `json:"backend_restarted,omitempty"`

	Backend BackendEvidence    `json:"backend"`
	Proxy   []proxies.Evidence `json:"proxy,omitempty"`
	// Wire is what the proxy↔backend traffic showed of the trial, when it
	// was captured.
	Wire *WireEvidence `json:"wire,omitempty"`
}

// BackendEvidence is what the backend saw of one trial.
type BackendEvidence struct {
	// PooledConn is the connection that served the priming request: the
	// one the proxy should reuse for the victim.
	PooledConn uint64 `json:"pooled_conn,omitempty"`
	// Conns are the connections the victim request arrived on, in order.
	Conns []uint64 `json:"conns,omitempty"`
	// Arrivals is how many times the request was read; Responses how many
	// answers the backend wrote for it.
	Arrivals  int `json:"arrivals"`
	Responses int `json:"responses"`
	// Status is the backend's own status for the request, if it answered.
	Status int `json:"status,omitempty"`
	// Close is the backend-side end of the pooled connection, when it
	// ended during the trial.
	Close *CloseEvidence `json:"close,omitempty"`
}

// CloseEvidence is how and when a connection ended.
type CloseEvidence struct {
	Conn   uint64 `json:"conn"`
	Closer string `json:"closer"`
	Reason string `json:"reason"`
	Style  string `json:"style,omitempty"`
	Fault  string `json:"fault,omitempty"`
	// UnreadBytes were request bytes left unread when the backend closed.
	UnreadBytes int `json:"unread_bytes,omitempty"`
	// SinceSendNS is the close time minus the victim's send time.
	SinceSendNS int64 `json:"since_send_ns"`
}

// WireEvidence is what a capture of the proxy↔backend traffic on loopback
// showed of one trial's reused connection: which side ended it first and
// how, relative to the victim request's first byte on that connection.
type WireEvidence struct {
	// Conn is the connection's 4-tuple, proxy side first
	// ("127.0.0.1:41000>127.0.0.1:8080").
	Conn string `json:"conn,omitempty"`
	// FirstClose is the side whose FIN or RST came first: "backend" or
	// "proxy" ("" when neither side closed during the trial).
	FirstClose string `json:"first_close,omitempty"`
	// CloseKind is that first close: "fin" or "rst".
	CloseKind string `json:"close_kind,omitempty"`
	// CloseSinceRequestNS is the first close's time minus the time of the
	// victim request's first byte on the connection; negative when the
	// close came first. Nil when no request byte went out on it.
	CloseSinceRequestNS *int64 `json:"close_since_request_ns,omitempty"`
	// RequestIntoClosed: request bytes reached a socket the backend had
	// already closed (the backend answered them with RST).
	RequestIntoClosed bool `json:"request_into_closed,omitempty"`
	// RequestBytes and ResponseBytes are the payload bytes the proxy and
	// the backend sent on the connection from the victim request's first
	// byte on: request bytes with no response bytes is a request no one
	// answered.
	RequestBytes  int `json:"request_bytes,omitempty"`
	ResponseBytes int `json:"response_bytes,omitempty"`
	// PacketsDropped counts the connection's older packets the capture's
	// bounded buffer let go before the analysis.
	PacketsDropped int `json:"packets_dropped,omitempty"`
	// KernelDrops counts packets of any connection the kernel dropped from
	// the capture's queue during the trial: the evidence may be incomplete.
	KernelDrops int `json:"kernel_drops,omitempty"`
	// Events are the connection's packets that matter, in order.
	Events []WireEvent `json:"events,omitempty"`
	// Pcap is the file the connection's packets were written to.
	Pcap string `json:"pcap,omitempty"`
	// Unavailable says why there is no capture (no CAP_NET_RAW, ...):
	// evidence is never lost silently.
	Unavailable string `json:"unavailable,omitempty"`
}

// WireEvent is one packet of a captured connection.
type WireEvent struct {
	// AtNS is the packet's time minus the victim request's send time.
	AtNS int64 `json:"at_ns"`
	// From is "proxy" or "backend".
	From string `json:"from"`
	// Kind is "syn", "data", "fin" or "rst" ("fin" with data is "fin").
	Kind  string `json:"kind"`
	Bytes int    `json:"bytes,omitempty"`
}
