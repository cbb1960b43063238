package backends

import (
	"fmt"
	"time"
)

// Headers the driver sets on every request and the backend reads.
const (
	// RequestIDHeader carries the driver's request id. The backend copies it
	// into every event about that request.
	RequestIDHeader = "X-Racelab-Request-Id"
	// FaultHeader marks a request as the victim of a fault. Its value is a
	// FaultKind. The fault fires only when the request arrives on a reused
	// connection (its index on the connection is 2 or more), so a proxy's
	// retry on a fresh connection is served normally.
	FaultHeader = "X-Racelab-Fault"
	// PathPrefix starts every request path the driver sends: the path is
	// PathPrefix + request id, so the id also appears in proxies' error
	// logs, which quote the request line but not headers.
	PathPrefix = "/r/"
)

// CloseStyle is how the backend closes a connection it decides to close.
type CloseStyle string

const (
	// CloseFIN is an orderly close: the kernel sends FIN (or RST when
	// unread bytes remain in the receive buffer, as in the real race).
	CloseFIN CloseStyle = "fin"
	// CloseRST aborts the connection with SO_LINGER 0: the kernel sends RST.
	CloseRST CloseStyle = "rst"
)

// FaultKind names a deterministic fault.
type FaultKind string

const (
	// FaultNone serves every request.
	FaultNone FaultKind = ""
	// FaultCloseOnReuse closes the connection without answering when the
	// victim request arrives on a reused connection: what a proxy sees in
	// the real race, on the first trial, every time.
	FaultCloseOnReuse FaultKind = "close-on-reuse"
	// FaultProcessedThenDropped runs the handler for the victim request,
	// then closes without a response: it exposes retries that execute a
	// request twice.
	FaultProcessedThenDropped FaultKind = "processed-then-dropped"
)

// Fault selects victims. A request is a victim when it arrives on a reused
// connection (index >= 2) and either its index on the connection equals
// Index, or Index is 0 and it carries FaultHeader with a value equal to Kind.
type Fault struct {
	Kind  FaultKind
	Index int
}

// Config is the backend's behaviour. The zero value serves every request
// with 200, keeps connections open forever and closes with FIN.
type Config struct {
	// IdleTimeout closes a connection that has been idle this long after
	// its last response (0: never). Millisecond precision or better.
	IdleTimeout time.Duration
	// CloseStyle applies to every close the backend initiates.
	CloseStyle CloseStyle
	// MaxRequestsPerConn closes the connection after the response to the
	// Nth request, with "Connection: close" on that response (0: no limit).
	MaxRequestsPerConn int
	// MaxConnLifetime closes a connection once it is this old, at the
	// first idle moment after the limit (0: no limit).
	MaxConnLifetime time.Duration
	// ResponseDelay is slept by the handler before it answers.
	ResponseDelay time.Duration
	// ResponseStatus is the status of every answer (0: 200). Set 502 for the
	// negative control of a backend that itself fails.
	ResponseStatus int
	// Fault is the deterministic fault, if any.
	Fault Fault
}

// Validate reports a configuration that cannot run.
func (c Config) Validate() error {
	switch c.CloseStyle {
	case "", CloseFIN, CloseRST:
	default:
		return fmt.Errorf("close style %q: want fin or rst", c.CloseStyle)
	}
	switch c.Fault.Kind {
	case FaultNone, FaultCloseOnReuse, FaultProcessedThenDropped:
	default:
		return fmt.Errorf("fault %q: want close-on-reuse or processed-then-dropped", c.Fault.Kind)
	}
	if c.IdleTimeout < 0 || c.MaxConnLifetime < 0 || c.ResponseDelay < 0 {
		return fmt.Errorf("durations must not be negative")
	}
	if c.MaxRequestsPerConn < 0 {
		return fmt.Errorf("max requests per connection must not be negative")
	}
	if c.Fault.Index < 0 || c.Fault.Index == 1 {
		return fmt.Errorf("fault index %d: want 0 (by header) or 2 and above (a reused connection)", c.Fault.Index)
	}
	if c.ResponseStatus != 0 && (c.ResponseStatus < 200 || c.ResponseStatus > 599) {
		return fmt.Errorf("response status %d: want 200..599", c.ResponseStatus)
	}
	return nil
}

// EventKind names what happened.
type EventKind string

const (
	EventAccept    EventKind = "accept"     // a connection was accepted
	EventRequest   EventKind = "request"    // a request was read (RequestID, ReqIndex set)
	EventHandler   EventKind = "handler"    // the handler ran for a request
	EventResponse  EventKind = "response"   // a response was fully written (Status set)
	EventIdleArmed EventKind = "idle-armed" // idle timer started (Deadline set)
	EventClose     EventKind = "close"      // the connection closed (Closer, Reason, Style set)
)

// Who closed a connection.
const (
	CloserBackend = "backend"
	CloserPeer    = "peer"
)

// Reasons for a close.
const (
	ReasonIdle                 = "idle-timeout"
	ReasonCloseOnReuse         = "close-on-reuse"
	ReasonProcessedThenDropped = "processed-then-dropped"
	ReasonMaxRequests          = "max-requests"
	ReasonLifetime             = "max-lifetime"
	ReasonShutdown             = "shutdown"
	ReasonPeerEOF              = "peer-eof"
	ReasonPeerReset            = "peer-reset"
	ReasonReadError            = "read-error"
)

// Event is one thing that happened in the backend. Time carries Go's
// monotonic clock reading, so it compares exactly with the driver's
// time.Now() in the same process.
type Event struct {
	Time      time.Time `json:"time"`
	Kind      EventKind `json:"kind"`
	ConnID    uint64    `json:"conn"`
	RequestID string    `json:"request_id,omitempty"`
	// ReqIndex is the 1-based index of the request on its connection.
	ReqIndex int    `json:"req_index,omitempty"`
	Method   string `json:"method,omitempty"`
	Status   int    `json:"status,omitempty"`
	// Deadline is when an armed idle timer will fire (EventIdleArmed).
	Deadline time.Time `json:"deadline,omitzero"`
	// Closer is CloserBackend or CloserPeer (EventClose).
	Closer string `json:"closer,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Style is how the backend closed (EventClose with Closer backend).
	Style CloseStyle `json:"style,omitempty"`
	// UnreadBytes is how many request bytes sat unread in the receive
	// buffer when the backend closed: the kernel turns such a close into
	// an RST, and it is the signature of the natural race.
	UnreadBytes int `json:"unread_bytes,omitempty"`
	// Fault is set on a close that a fault caused.
	Fault FaultKind `json:"fault,omitempty"`
	// Remote is the peer's address ("127.0.0.1:41000") on EventAccept:
	// the proxy's side of the connection, which names it on the wire.
	Remote string `json:"remote,omitempty"`
}

// Observer receives every event. It is called synchronously from the
// connection's goroutine, so it must be fast and safe for concurrent use.
type Observer func(Event)
