// Package ci is a recipe for running a large racelab matrix on the CI
// system a team already has: workflow.yml, a GitHub Actions workflow,
// splits matrix.yaml over parallel jobs with racelab run --shard K/N
// (shard.sh), uploads each shard's results, and merges them with racelab
// report into one HTML report and one JUnit file (merge.sh), failing the
// pipeline on a violated expectation or a missing cell. See README.md.
//
// Its tests lint the workflow with actionlint and run the workflow's own
// shard and merge steps locally, on the embedded Go proxy:
//
//	go test ./examples/ci/
package ci
