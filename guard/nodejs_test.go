package guard

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadNodeSource(t *testing.T) {
	tests := []struct {
		spec, name string
		want       []string
		source     string
		explain    string
		note       string
		err        string
	}{
		{spec: "node:testdata/node/server.js", want: []string{"66000ms"}, source: "testdata/node/server.js:17",
			explain: "keepAliveTimeout 65_000 = 65000ms"},
		{spec: "node:testdata/node/server.ts", want: []string{"62000ms"}, source: "testdata/node/server.ts:9",
			explain: "keepAliveTimeout KEEP_ALIVE_MS = 61000ms"},
		{spec: "node:testdata/node/default.js", want: []string{"6000ms"}, source: "testdata/node/default.js:4",
			explain: "keepAliveTimeout not set"},
		{spec: "node:testdata/node/headers-violation.js", want: []string{"60000ms"},
			explain: "headersTimeout not set (default 60000ms) is not above it, so the guard checks 60000ms",
			note:    "violation: headersTimeout not set (default 60000ms) must exceed keepAliveTimeout 65000ms"},
		{spec: "node:testdata/node/two-servers.js", err: "ambiguous: 2 servers with different keep-alives:\n  testdata/node/two-servers.js:7: server server: 66000ms\n  testdata/node/two-servers.js:12: server adminServer: 6000ms"},
		{spec: "node:testdata/node/two-servers.js#adminServer", want: []string{"6000ms"}, source: "testdata/node/two-servers.js:12"},
		{spec: "node:testdata/node/two-servers.js", name: "server", want: []string{"66000ms"}},
		{spec: "node:testdata/node/two-servers.js#nope", err: `no server named "nope" (found: server, adminServer)`},
		{spec: "node:testdata/node/computed.js", err: "testdata/node/computed.js:3: keepAliveTimeout = Number ( process . env . KEEP_ALIVE_TIMEOUT_MS ): a computed value cannot be read"},
		{spec: "node:testdata/node/server.json", want: []string{"66000ms"}, note: "Node.js 20 closes an idle connection 1s after keepAliveTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.spec+tt.name, func(t *testing.T) {
			vals, err := ReadBackend(tt.spec, WithName(tt.name))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, shows(vals))
			if tt.source != "" {
				assert.Equal(t, tt.source, vals[0].Source)
			}
			assert.Contains(t, vals[0].Explanation, tt.explain)
			if tt.note != "" {
				assert.Contains(t, strings.Join(vals[0].Notes, "\n"), tt.note)
			}
		})
	}
}

func TestNodeSourceForms(t *testing.T) {
	runRuntime(t, "node", []runtimeCase{
		{name: "separators and arithmetic", text: "const s = http.createServer(h)\ns.keepAliveTimeout = (60 + 5) * 1_000\ns.headersTimeout = 66 * 1e3\n", want: []string{"66000ms"}},
		{name: "exponent and hex", text: "server.keepAliveTimeout = 6.5e4;\nserver.headersTimeout = 0x1_0000;", want: []string{"66000ms"}},
		{name: "this member", text: "class App { start() { this.server = app.listen(3000); this.server.keepAliveTimeout = 70000; } }", want: []string{"60000ms"}},
		{name: "zero turns the timer off", text: "server.keepAliveTimeout = 0;", want: []string{"unbounded"}},
		{name: "new Server options", text: "const srv = new http.Server({ keepAliveTimeout: 75_000, headersTimeout: 76_000 }, h);", want: []string{"76000ms"}},
		{name: "comments and strings ignored", text: "// server.keepAliveTimeout = 1\nconst s = `server.keepAliveTimeout = 2 ${x}`;\n/* server.keepAliveTimeout = 3 */\nserver.keepAliveTimeout = 4000\nserver.headersTimeout = 5000", want: []string{"5000ms"}},
		{name: "same server twice", text: "server.keepAliveTimeout = 5000;\nserver.keepAliveTimeout = 6000;", err: "server server sets keepAliveTimeout twice"},
		{name: "comparison is no assignment", text: "if (server.keepAliveTimeout === 5000) {}\napp.listen(1)", want: []string{"6000ms"}},
		{name: "a function argument", text: "function f(s, ms) { s.keepAliveTimeout = ms }", err: "ms is not a constant of this file"},
		{name: "not node", text: "print('hello')", err: "no keepAliveTimeout, createServer or listen() found"},
		{name: "unterminated string", text: "const s = 'abc\nserver.keepAliveTimeout = 1", err: "unterminated string"},
	})
}
