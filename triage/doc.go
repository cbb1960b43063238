// Package triage answers "is this 5xx the keep-alive race?" from the logs
// teams already have, before anyone runs a lab.
//
// Analyze streams access logs (any size, gzip accepted) of an AWS ALB, a
// Google Cloud load balancer, nginx (the stock combined format, joined
// with its error log), HAProxy (option httplog), Envoy or Caddy, and
// classifies every 5xx:
//
//   - ClassRace: the proxy's own cause code for a stale reused connection
//     (nginx "upstream prematurely closed connection" or a reset while
//     reading the response header, HAProxy termination state SH, Envoy
//     response flag UC, an ALB 502 with no target status, a Google load
//     balancer's backend_connection_closed_before_data_sent_to_client);
//   - ClassBackend: the backend answered the 5xx itself;
//   - ClassTimeout, ClassCapacity, ClassOther.
//
// Each decision names the field it rests on (Entry.Field). Lines that are
// not lines of the format are counted (Report.Unparsed), never skipped
// silently, and input with no parsable line is an error.
//
// The idle gap before each request to the same target (backend address,
// or backend/server) estimates the backend's effective keep-alive: the
// gap below which race failures never occur (Report.KeepAlive), graded
// strong, moderate or weak from the data. A load balancer keeps many
// connections per target, so the estimate is a lower bound.
//
// Report.Verdict is a paragraph to paste into an incident channel,
// Report.JSON the machine form, and Report.Scenario a racelab scenario
// that reproduces the finding. Command wiring: Flags and Run, as
// `racelab triage` uses them.
package triage
