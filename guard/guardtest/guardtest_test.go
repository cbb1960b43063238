package guardtest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/racelab/racelab/guard"
	"github.com/racelab/racelab/guard/guardtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a testing.TB that keeps what the assertion reports.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func TestAssert(t *testing.T) {
	r := &recorder{}
	guardtest.Assert(r, 65*time.Second, 60*time.Second, 5*time.Second)
	assert.Empty(t, r.errors)

	guardtest.Assert(r, 5*time.Second, 60*time.Second, 2*time.Second)
	require.Len(t, r.errors, 1)
	assert.Contains(t, r.errors[0], "keep-alive parity: 1 of 1 pairs fail")
	assert.Contains(t, r.errors[0], "backend_keepalive 5000ms >= proxy_idle 60000ms + margin 2000ms = 62000ms")
	assert.Contains(t, r.errors[0], "fix:     raise the backend keep-alive to at least 62000ms")

	r = &recorder{}
	guardtest.Assert(r, 0, 60*time.Second, 0)
	require.Len(t, r.errors, 1)
	assert.Contains(t, r.errors[0], "must be positive")
}

func TestAssertSources(t *testing.T) {
	r := &recorder{}
	guardtest.AssertSources(r, "node:../testdata/node/server.json", "alb-json:../testdata/alb/attributes.json", 5*time.Second)
	assert.Empty(t, r.errors)

	guardtest.AssertSources(r, "tomcat:../testdata/tomcat/server.xml", "envoy:../testdata/envoy/bootstrap.yaml", 5*time.Second)
	require.Len(t, r.errors, 1)
	assert.Contains(t, r.errors[0], "5 of 6 pairs fail")
	assert.Contains(t, r.errors[0], "cluster metrics")

	r = &recorder{}
	guardtest.AssertSources(r, "node:../testdata/node/missing.json", "alb-json:../testdata/alb/attributes.json", time.Second)
	require.Len(t, r.errors, 1)
	assert.Contains(t, r.errors[0], "no such file")

	r = &recorder{}
	guardtest.AssertValues(r, nil, []guard.Value{guard.Finite(time.Second, "x", "")}, time.Second)
	require.Len(t, r.errors, 1)
	assert.Contains(t, r.errors[0], "nothing to check")
}
