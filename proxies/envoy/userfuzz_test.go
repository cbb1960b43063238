package envoy

import (
	"testing"
)

// maxFuzzInput bounds a fuzzed bootstrap: real ones are a few KiB.
const maxFuzzInput = 64 << 10

// FuzzRenderUserConfig rewrites arbitrary bootstraps. It must never
// panic or hang, and whatever it returns must pass Envoy's schema and hold
// only addresses racelab chose.
func FuzzRenderUserConfig(f *testing.F) {
	for _, file := range []string{"edge.yaml", "sidecar.json"} {
		data := readUser(f, file)
		f.Add(data, "")
		f.Add(data, "payments")
		f.Add(data, "ledger")
	}
	f.Add([]byte(bootstrapWith(routeToA, "")), "")
	f.Add([]byte(bootstrapWith(routeToA, "")), "b")
	f.Add([]byte("static_resources: {clusters: [{name: a, connect_timeout: 1s}]}"), "a")
	f.Add([]byte("a: &a [*a]"), "")
	f.Fuzz(func(t *testing.T, data []byte, cluster string) {
		if len(data) > maxFuzzInput || len(cluster) > 256 {
			return
		}
		got, err := RenderUserConfig(userOptions("fuzz.yaml", data, cluster, 0.01))
		if err != nil {
			if got != nil {
				t.Fatalf("a result beside the error %v", err)
			}
			return
		}
		if err := ValidateBootstrap(bootstrapOf(got)); err != nil {
			t.Fatalf("rewritten bootstrap is invalid: %v\n%s", err, bootstrapOf(got))
		}
		out := names(t, bootstrapOf(got))
		for _, a := range out.sockets {
			if !allowedAddrs[a] {
				t.Fatalf("output address %s is not one racelab chose\n%s", a, bootstrapOf(got))
			}
		}
		if len(out.hosts) > 0 {
			t.Fatalf("output names hosts %q", out.hosts)
		}
		if got.Route.Path == "" || got.Route.UpstreamPath == "" {
			t.Fatalf("empty route %+v", got.Route)
		}
	})
}
