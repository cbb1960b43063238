// Package guardtest asserts the keep-alive parity rule in Go tests, for
// teams that keep it next to their code rather than in a build step:
//
//	func TestKeepAliveParity(t *testing.T) {
//		guardtest.AssertSources(t, "gunicorn:deploy/gunicorn.conf.py", "nginx:deploy/nginx.conf", 5*time.Second)
//	}
package guardtest

import (
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/guard"
)

// Assert fails t unless backend >= proxy + margin. Zero or negative
// timeouts fail too: they are not a configuration anyone can pass.
func Assert(t testing.TB, backend, proxy, margin time.Duration) {
	t.Helper()
	report(t, guard.Report{Results: []guard.Result{guard.Check(backend, proxy, margin)}})
}

// AssertValues fails t unless every backend value passes against every
// proxy value, as ReadBackend and ReadProxy return them.
func AssertValues(t testing.TB, backends, proxies []guard.Value, margin time.Duration) {
	t.Helper()
	if len(backends) == 0 || len(proxies) == 0 {
		t.Errorf("keep-alive parity: nothing to check (%d backend and %d proxy values)", len(backends), len(proxies))
		return
	}
	report(t, guard.CheckAll(backends, proxies, margin))
}

// AssertSources reads both sides, written KIND:PATH as the CLI takes them
// (for example "tomcat:conf/server.xml" and "envoy:envoy.yaml"), and fails
// t when a source cannot be read or a pair fails.
func AssertSources(t testing.TB, backendSpec, proxySpec string, margin time.Duration) {
	t.Helper()
	backends, err := guard.ReadBackend(backendSpec)
	if err != nil {
		t.Errorf("keep-alive parity: %v", err)
		return
	}
	proxies, err := guard.ReadProxy(proxySpec)
	if err != nil {
		t.Errorf("keep-alive parity: %v", err)
		return
	}
	AssertValues(t, backends, proxies, margin)
}

func report(t testing.TB, rep guard.Report) {
	t.Helper()
	var failed []string
	for _, r := range rep.Results {
		if r.Pass {
			continue
		}
		msg := r.String()
		if r.Err == nil {
			msg += "\n\tbackend: " + r.Backend.String() + "\n\tproxy:   " + r.Proxy.String()
			if r.Fix != "" {
				msg += "\n\tfix:     " + r.Fix
			}
		}
		failed = append(failed, msg)
	}
	if len(failed) > 0 {
		t.Errorf("keep-alive parity: %d of %d pairs fail:\n%s", len(failed), len(rep.Results), strings.Join(failed, "\n"))
	}
}
