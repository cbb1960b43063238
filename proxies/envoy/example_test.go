package envoy_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/envoy"
)

func ExampleValidateBootstrap() {
	spec := proxies.Spec{
		Kind:        proxies.KindEnvoy,
		Listen:      "127.0.0.1:18080",
		Upstream:    "127.0.0.1:19090",
		AdminListen: "127.0.0.1:19901",
		IdleTimeout: 250 * time.Millisecond,
		Retry:       proxies.RetryIdempotent,
	}
	data, err := envoy.RenderBootstrap(spec)
	if err != nil {
		panic(err)
	}
	fmt.Println("rendered:", envoy.ValidateBootstrap(data))

	broken := strings.Replace(string(data), "idle_timeout: 0.25s", "idle_timeout: -0.25s", 1)
	err = envoy.ValidateBootstrap([]byte(broken))
	var ve *envoy.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fmt.Println(p.Pos, p.Message)
		}
	}
	// Output:
	// rendered: <nil>
	// line 93:13 invalid duration -250ms: Envoy expects a non-negative duration
}

func ExampleAdapter_ParseLog() {
	line := `{"request_id":"r-7","status":503,"flags":"UC",` +
		`"details":"upstream_reset_before_response_started{connection_termination}","attempts":1}`
	ev, ok := envoy.Adapter{}.ParseLog(line)
	fmt.Println(ok, ev.RequestID, ev.Status, ev.Flags, ev.Attempts)
	// Output:
	// true r-7 503 UC 1
}
