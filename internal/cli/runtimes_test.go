package cli

import (
	"strings"
	"testing"
)

// behaviour --runtimes refuses a proxy it cannot run and bad trials
// before it starts anything.
func TestBehaviourRuntimesUsage(t *testing.T) {
	for _, args := range [][]string{
		{"behaviour", "--runtimes", "--proxy", "traefik"},
		{"behaviour", "--runtimes", "--trials", "-3"},
	} {
		code, out, errb := runCLI(t, args...)
		if code != ExitUsage || !strings.Contains(errb, "--") {
			t.Errorf("%v: exit %d: %s%s", args, code, out, errb)
		}
	}
}
