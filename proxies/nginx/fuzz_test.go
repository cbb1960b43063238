package nginx

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/racelab/racelab/proxies"
)

// FuzzParseLog: any line of nginx's output parses without a panic; a line
// it accepts yields evidence that names where it came from, with no
// negative counts, and a request id that the line contains.
func FuzzParseLog(f *testing.F) {
	f.Add(`{"time":"1795325509.946","request_id":"abc","method":"GET","uri":"/r/abc","status":"200","upstream_status":"502, 200","upstream_addr":"127.0.0.1:9"}`)
	f.Add(`2026/12/05 22:02:26 [error] 21763#21763: *4 upstream prematurely closed connection while reading response header from upstream, client: 127.0.0.1, server: shop.example.com, request: "GET /api/r/0-3-v HTTP/1.1", upstream: "http://127.0.0.1:36129/api/r/0-3-v"`)
	f.Add(`2026/12/05 22:02:26 [error] 1#1: *4 recv() failed (104: Connection reset by peer) while reading response header from upstream, request: "POST /r/x HTTP/1.1"`)
	f.Add(`{"request_id":"","uri":"/r/","status":"-","upstream_status":"502, 502 : 200, , ,"}`)
	f.Add(`{"status":`)
	f.Fuzz(func(t *testing.T, line string) {
		ev, ok := Adapter{}.ParseLog(line)
		if !ok {
			if ev != (proxies.Evidence{}) {
				t.Fatalf("ok false with evidence %+v", ev)
			}
			return
		}
		if ev.Source != "access" && ev.Source != "error" {
			t.Fatalf("source %q for %q", ev.Source, line)
		}
		if ev.Status < 0 || ev.Attempts < 0 {
			t.Fatalf("negative counts %+v for %q", ev, line)
		}
		// JSON escapes aside, the id is text of the line.
		if ev.RequestID != "" && utf8.ValidString(line) && !strings.Contains(line, `\`) && !strings.Contains(line, ev.RequestID) {
			t.Fatalf("request id %q not in %q", ev.RequestID, line)
		}
	})
}
