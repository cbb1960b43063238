// Package labtest runs racelab scenarios from go test and asserts on them
// with testify, so a proxy upgrade or a timeout change is gated like any
// other regression:
//
//	func TestKeepAliveFix(t *testing.T) {
//		labtest.SkipUnlessProxy(t, "nginx")
//		sc := labtest.Scenario(t, `
//	name: node-behind-nginx
//	timescale: 0.01
//	base: {proxy: {kind: nginx}, proxy_idle: 60s, trials: 3}
//	matrix: {margin: [-55s, 5s]}
//	`)
//		rep := labtest.Run(t, sc) // one run, several checks
//		require.NoError(t, labtest.CheckRace(rep, labtest.WithWhere(map[string]string{"margin": "<0"})))
//		require.NoError(t, labtest.CheckNoRace(rep, labtest.WithWhere(map[string]string{"margin": ">0"})))
//	}
//
// RequireRace requires every selected cell to reproduce the race: failed
// trials attributed to it by backend evidence. RequireNoRace requires no
// failed trial and no duplicate execution of a non-idempotent request.
// RequireExpectations requires every expectation of the scenario to
// pass. Each runs the scenario (lab.Run, bounded in time by the test's
// context) and, on failure, puts the evidence in the message: the cell,
// its counts and 95% Wilson interval, and a sample record's attribution,
// backend close and proxy log lines. The Check functions do the same on
// a results.Run (from Run) and return an error instead of failing a test,
// so one run serves several checks.
//
// A run that needs a proxy binary is skipped, with what to install, by
// SkipUnlessProxy; WithArtifacts keeps each run's results file and HTML
// report for CI to upload.
package labtest
