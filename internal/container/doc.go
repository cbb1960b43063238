// Package container runs any proxy adapter's rendered configuration in a
// container: the container runtime of racelab, beside the process runtime
// and the embedded Go proxy. It is the only package that talks to the
// container engine, through testcontainers-go.
//
// Start renders the adapter's bundle for a directory under ConfigRoot
// (/etc/racelab/<kind>), creates a container from an explicit image on
// the host network, so the proxy listens on and reaches 127.0.0.1 like a
// plain process, injects the bundle as files, runs the adapter's binary
// with the bundle's arguments under an init, and streams every log line
// of the container into the adapter's ParseLog and an EvidenceLog. It
// returns once the proxy accepts TCP connections on spec.Listen and its
// version, read by running the adapter's version command inside the
// container, is known. Info records the image, image id, container id and
// version for the run manifest.
//
// Images are never pulled when present. Where a registry is reachable an
// absent image (the official nginx:<version>, haproxy:<version>,
// envoyproxy/envoy:v<version>) is pulled; without one, package images
// builds local images from Debian suites.
//
// Cleanup: Stop sends the adapter's stop signal, kills the proxy after
// the stop timeout and removes the container; it works on the partial
// *Proxy a failed Start returns and still runs when its context is
// cancelled (Ctrl-C). Start finishes creating a container it has begun
// even when its context is cancelled, so Stop always knows the id. Every
// container carries the label racelab.managed=true, racelab.run=<id> when
// WithRunID is given, and a per-Start racelab.instance label, so List and
// Cleanup find and remove what a killed process left behind. It also
// carries its owner's mark (package owner): racelab's keeper removes it
// the moment its racelab dies, SIGKILL included, and SweepGone removes
// the containers of owners that are gone.
//
// Environment: the reaper container of testcontainers-go needs a
// registry, so TESTCONTAINERS_RYUK_DISABLED=true is set for this process
// when unset; where /.dockerenv exists, TESTCONTAINERS_HOST_OVERRIDE is
// set to 127.0.0.1 when unset. The engine API version is negotiated
// (Docker 20.10 speaks API 1.41). The proxy runs with this process's user
// and group ids, so a bundle rendered for the process runtime runs
// unchanged.
package container
