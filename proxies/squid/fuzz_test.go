package squid

import (
	"strings"
	"testing"
)

// FuzzParseAccessLine: no line panics the parser, and only lines in the
// rendered format are evidence.
func FuzzParseAccessLine(f *testing.F) {
	f.Add(`racelab-squid id=0-0-v st=502 code=TCP_MISS hier=HIER_NONE sport=- err=ERR_ZERO_SIZE_OBJECT/WITH_SERVER req="GET http://racelab/r/0-0-v"`)
	f.Add(`racelab-squid id=- st=0 code=NONE_NONE hier=HIER_NONE sport=- err=ERR_CLIENT_GONE/WITH_CLIENT req="- error:transaction-end-before-headers"`)
	f.Add(`2026/12/06 02:18:03| Accepting reverse-proxy HTTP Socket connections`)
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := Adapter{}.ParseLog(line)
		if !ok {
			return
		}
		if !strings.HasPrefix(line, LogPrefix+" id=") || ev.Source != "access" {
			t.Fatalf("evidence %+v from %q", ev, line)
		}
		if ev.Flags != "" && ev.Flags != ev.Message {
			t.Fatalf("flags %q are not the error page %q", ev.Flags, ev.Message)
		}
	})
}
