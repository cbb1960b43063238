// Package process runs any proxies.Adapter's Bundle as a local process.
//
// Start renders a Spec into a fresh 0700 temporary directory, writes the
// bundle there and starts the adapter's binary in its own process group.
// Every line the proxy writes to stdout or stderr goes through the
// adapter's ParseLog into the instance's EvidenceLog; the last lines are
// kept for error messages. Start returns once the proxy accepts TCP
// connections on Spec.Listen, found by probing, never by sleeping.
//
// A bundle with a Logger (Varnish: varnishncsa reads the shared-memory
// log) gets it started once the proxy is ready, in the proxy's process
// group, its lines going to the same EvidenceLog; Start returns only once
// a request to the Logger's ReadyPath has a line, so no trial goes
// unread. A bundle with SharedOutput (Squid, which reopens /dev/stdout
// after dropping root) gets output pipes its unprivileged user may open.
//
// Stop sends the adapter's stop signal to the process group, escalates to
// SIGKILL after a grace period, sweeps any process left in the group (an
// nginx worker outlives a killed master) and removes the directory. The
// runtime signals only the process group it created, by its id.
//
// Nothing outlives racelab: the proxy gets SIGTERM from the kernel when
// racelab dies (a parent-death signal, forked from one locked thread),
// and racelab's keeper (package owner) kills the process group and
// removes the directory, which carries an owner mark for later sweeps.
//
// Validate renders a Spec the same way and runs the binary's own
// configuration check on it.
//
// Linux (or another Unix with process groups) only.
package process
