package varnish

import (
	"strings"
	"testing"
)

// FuzzParseLine: no line panics the parser, and only lines in the
// rendered format are evidence.
func FuzzParseLine(f *testing.F) {
	f.Add(`racelab-varnish side=b id=0-1-v st=200 open=reuse sport=47706 err="HTC eof (-1)" req="GET /r/0-1-v"`)
	f.Add(`racelab-varnish side=c id=- st=503 open=- sport=- err="-" req="POST /r/x"`)
	f.Add(`Info: Child (20352) said Child starts`)
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := Adapter{}.ParseLog(line)
		if !ok {
			return
		}
		if !strings.HasPrefix(line, LogPrefix+" side=") {
			t.Fatalf("evidence from a line not in the rendered format: %q", line)
		}
		if ev.Source != "access" && ev.Source != "error" && ev.Source != "backend" {
			t.Fatalf("source %q", ev.Source)
		}
	})
}
