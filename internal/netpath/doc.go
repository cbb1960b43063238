// Package netpath puts a network path with latency between a proxy and
// racelab's backend.
//
// A Relay listens on 127.0.0.1:0 and forwards every connection it accepts
// to one target address. Each connection has one OS thread of its own for
// both directions: it stamps each chunk with the kernel's receive time of
// it and delivers the chunk at that time plus the one-way latency (plus
// seeded jitter, clamped so that delivery times never go backwards: the
// byte order of the stream is kept), sleeping in ppoll with a nanosecond
// timeout in between, at real-time priority where it may. TCP's other
// signals travel the same way, in order behind the data:
//
//   - end of stream (FIN) read on one side becomes CloseWrite on the other
//     at its delivery time: half-close is kept;
//   - a reset (RST) read on one side becomes SetLinger(0) and Close on the
//     other at its delivery time, after every byte read before it;
//   - a write the far side refuses (its socket is gone and its kernel
//     answers with RST) travels back as an RST to the writer's peer one
//     latency later, as the RST of a real network would.
//
// The userspace path is what racelab uses where the kernel has no netem
// qdisc (NetemAvailable reports whether it has). It differs from netem in
// the TCP handshake: the relay's kernel completes the proxy's connect at
// once, and the relay dials the target when it accepts. Every other
// observable of the race — when data, FIN and RST reach each end — follows
// the configured delay; BENCHMARKS.md gives the measured accuracy.
//
// Buffers are bounded (MaxQueued chunks of at most ChunkSize bytes per
// direction): a direction whose queue is full is not read until it drains,
// as a sender waits on a full TCP window. Close stops the listener and
// every connection and waits for their threads.
package netpath
