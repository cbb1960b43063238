package haproxy

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
)

// realLines reads log lines HAProxy 2.6.12 wrote with the rendered config.
func realLines(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "logs", "haproxy-2.6.12.log"))
	require.NoError(t, err)
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	require.NoError(t, sc.Err())
	return out
}

func TestParseLogRealLines(t *testing.T) {
	lines := realLines(t)
	// want maps a substring that picks exactly one line to its evidence;
	// Raw is filled in from the line.
	want := []struct {
		pick string
		ev   proxies.Evidence
	}{
		{`ts=CR--`, proxies.Evidence{Status: 400, Flags: "CR--"}},
		{`ts=PR--`, proxies.Evidence{Status: 400, Flags: "PR--"}},
		{`id="id1"`, proxies.Evidence{RequestID: "id1", Status: 200, Flags: "----", Attempts: 1}},
		{`st=502 ts=SH--`, proxies.Evidence{RequestID: "id3", Status: 502, Flags: "SH--", Attempts: 1}},
		{`POST /r/id3`, proxies.Evidence{RequestID: "id3", Status: 200, Flags: "----", Attempts: 2}},
		{`id="refused-off"`, proxies.Evidence{RequestID: "refused-off", Status: 503, Flags: "SC--", Attempts: 1}},
		{`id="refused-idem"`, proxies.Evidence{RequestID: "refused-idem", Status: 503, Flags: "SC--", Attempts: 2}},
		{`id="timeout-off"`, proxies.Evidence{RequestID: "timeout-off", Status: 504, Flags: "sH--", Attempts: 1}},
		{`id="queue-0"`, proxies.Evidence{RequestID: "queue-0", Status: 200, Flags: "----", Attempts: 1}},
		{`/r/nohdr?x=1`, proxies.Evidence{RequestID: "nohdr", Status: 200, Flags: "----", Attempts: 1}},
		{`id="has space "q""`, proxies.Evidence{RequestID: `has space "q"`, Status: 200, Flags: "----", Attempts: 1}},
		{`id="aaaa`, proxies.Evidence{RequestID: strings.Repeat("a", 150), Status: 200, Flags: "----", Attempts: 1}},
	}
	matched := make(map[int]bool)
	for _, w := range want {
		var idx []int
		for i, l := range lines {
			if strings.Contains(l, w.pick) {
				idx = append(idx, i)
			}
		}
		require.Len(t, idx, 1, "pick %q", w.pick)
		line := lines[idx[0]]
		matched[idx[0]] = true
		ev, ok := Adapter{}.ParseLog(line)
		require.True(t, ok, line)
		w.ev.Source, w.ev.Raw = "access", line
		assert.Equal(t, w.ev, ev)
	}
	// Every other line is a notice, warning or alert and carries nothing.
	for i, l := range lines {
		if matched[i] {
			continue
		}
		if strings.HasPrefix(l, LogPrefix) {
			t.Errorf("access line %q has no expectation", l)
			continue
		}
		_, ok := Adapter{}.ParseLog(l)
		assert.False(t, ok, l)
	}
}

func TestParseAccessLineFields(t *testing.T) {
	line := `racelab-haproxy id="queue-0" st=200 ts=---- rc=0 conn=2/2/0/0 queue=0/1 t=0/200/0/202/402 srv=be/s1 sport=44030 bytes=83 client=127.0.0.1:41242 req="GET /r/queue-0 HTTP/1.1"`
	a, ok := ParseAccessLine(line + "\n")
	require.True(t, ok)
	assert.Equal(t, AccessLine{
		RequestID: "queue-0", Status: 200, Flags: "----",
		ActConn: 2, FeConn: 2, BeConn: 0, SrvConn: 0,
		SrvQueue: 0, BeQueue: 1,
		TR: 0, Tw: 200, Tc: 0, Tr: 202, Ta: 402,
		Backend: "be", Server: "s1", SourcePort: 44030, Bytes: 83,
		Client: "127.0.0.1:41242", Request: "GET /r/queue-0 HTTP/1.1", Raw: line,
	}, a)

	bad := `racelab-haproxy id="" st=400 ts=CR-- rc=0 conn=2/2/0/0 queue=0/0 t=-1/-1/-1/-1/0 srv=fe/<NOSRV> sport=- bytes=0 client=127.0.0.1:34986 req="<BADREQ>"`
	a, ok = ParseAccessLine(bad)
	require.True(t, ok)
	assert.Equal(t, -1, a.TR)
	assert.Equal(t, -1, a.Tc)
	assert.Equal(t, 0, a.SourcePort)
	assert.Equal(t, 0, a.Attempts())
	assert.Equal(t, 400, a.Evidence().Status)

	// A stream that ended before any status was sent logs -1; evidence
	// leaves the status out.
	a, ok = ParseAccessLine(strings.Replace(bad, "st=400", "st=-1", 1))
	require.True(t, ok)
	assert.Equal(t, -1, a.Status)
	assert.Equal(t, 0, a.Evidence().Status)
}

func TestParseAccessLineRedispatch(t *testing.T) {
	// HAProxy prefixes %rc with "+" when it redispatched.
	line := `racelab-haproxy id="r" st=200 ts=---- rc=+2 conn=1/1/0/0 queue=0/0 t=0/0/0/0/0 srv=be/s1 sport=1 bytes=1 client=127.0.0.1:1 req="GET /r/r HTTP/1.1"`
	a, ok := ParseAccessLine(line)
	require.True(t, ok)
	assert.True(t, a.Redispatched)
	assert.Equal(t, 2, a.Retries)
	assert.Equal(t, 3, a.Attempts())
}

func TestParseLogRejects(t *testing.T) {
	for _, l := range []string{
		"",
		"[WARNING]  (1) : Server be/s1 is DOWN",
		`racelab-haproxy id="x" st=200`, // truncated
		`127.0.0.1:1 [22/Nov/2026:05:31:27.147] fe be/s1 0/0/0/0/0 200 78 - - ---- 1/1/0/0/0 0/0 "GET /r/x HTTP/1.1"`,
	} {
		_, ok := Adapter{}.ParseLog(l)
		assert.False(t, ok, l)
	}
}

func TestIDFromRequest(t *testing.T) {
	for req, want := range map[string]string{
		"GET /r/abc HTTP/1.1":       "abc",
		"GET /r/abc?x=1 HTTP/1.1":   "abc",
		"POST /r/abc/more HTTP/1.1": "abc",
		"GET /other HTTP/1.1":       "",
		"<BADREQ>":                  "",
	} {
		assert.Equal(t, want, idFromRequest(req), req)
	}
}
