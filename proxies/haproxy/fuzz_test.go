package haproxy

import (
	"testing"

	"github.com/racelab/racelab/proxies"
)

// FuzzParseLog: any line of HAProxy's output parses without a panic; a
// line it accepts yields access evidence with no negative counts.
func FuzzParseLog(f *testing.F) {
	f.Add(`<134>Dec  5 22:02:26 haproxy[12]: racelab id="id3" st=502 ts=SH-- rt=0 req="POST /r/id3 HTTP/1.1"`)
	f.Add(`racelab id="has space "q"" st=200 ts=---- rt=1 req="GET /api/r/x?y=1 HTTP/1.1"`)
	f.Add(`racelab id="" st=-1 ts= rt=-5 req=""`)
	f.Add(`racelab id="`)
	f.Add(`[WARNING]  (1) : Server be/s1 is DOWN`)
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := Adapter{}.ParseLog(line)
		if !ok {
			if ev != (proxies.Evidence{}) {
				t.Fatalf("ok false with evidence %+v", ev)
			}
			return
		}
		if ev.Source == "" {
			t.Fatalf("no source for %q: %+v", line, ev)
		}
		if ev.Status < 0 || ev.Attempts < 0 {
			t.Fatalf("negative counts %+v for %q", ev, line)
		}
	})
}
