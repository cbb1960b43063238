// Package regression is a keep-alive regression suite to copy into a
// project: go test runs racelab scenarios against the proxies a team
// ships and fails, with the evidence, when an upgrade or a timeout change
// brings the upstream keep-alive race back.
//
// The suite runs testdata/keepalive.yaml on the embedded Go proxy always,
// and on nginx and HAProxy when they are installed (skipping, with what
// to install, when not); and a scenario with production values (a 60s
// proxy idle timeout, Node.js's 5s keep-alive default and the 65s fix)
// scaled down to run in seconds. Set RACELAB_ARTIFACTS to a directory to
// keep every run's results file and HTML report for CI to upload.
//
//	go test ./examples/regression/ -v
package regression
