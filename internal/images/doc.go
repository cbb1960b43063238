// Package images builds and finds the container images racelab runs
// proxies from, with no container registry at all.
//
// Build bootstraps a Debian suite (bookworm, trixie, sid, ...) with
// nginx and HAProxy into a temporary root filesystem with debootstrap,
// from the Debian mirror the machine's apt sources name (never a
// hard-coded host), slims it, reads the proxy versions from its dpkg
// database and imports it into the local Docker engine through the API
// as racelab/proxies:<suite>, tagged racelab/nginx:<version> and
// racelab/haproxy:<version> and labelled racelab.suite, racelab.nginx,
// racelab.haproxy and racelab.debian. The image has no command: the
// container runtime gives it. An image that exists is reused; building
// needs root.
//
// The suites give a ladder of proxy versions: bookworm nginx 1.22.1 and
// HAProxy 2.6.12, trixie 1.26.3 and 3.0.11, sid 1.30.6 and 3.2.26 (as
// built when this package was written; sid moves).
//
// Resolve picks the image for a proxy kind and version: a local racelab
// image whose version matches, else the official image by tag, for
// engines that reach a registry. Command is the `racelab images`
// subcommand: build, list and prune.
package images
