package nginx

import (
	"fmt"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
)

func TestParseLog(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want proxies.Evidence
		ok   bool
	}{
		{
			name: "access ok",
			line: `{"time":"1795325509.946","request_id":"abc","method":"GET","uri":"/r/abc","status":"200","upstream_status":"200","upstream_addr":"127.0.0.1:9","upstream_connect_time":"0.000","upstream_response_time":"0.001","request_time":"0.001","connection":"1","connection_requests":"3"}`,
			want: proxies.Evidence{Source: "access", RequestID: "abc", Status: 200, UpstreamStatus: "200", Attempts: 1},
			ok:   true,
		},
		{
			name: "access hidden retry",
			line: `{"request_id":"r7","uri":"/r/r7","status":"200","upstream_status":"502, 200"}`,
			want: proxies.Evidence{Source: "access", RequestID: "r7", Status: 200, UpstreamStatus: "502, 200", Attempts: 2},
			ok:   true,
		},
		{
			name: "access internal redirect",
			line: `{"request_id":"r8","status":"200","upstream_status":"502, 200 : 200"}`,
			want: proxies.Evidence{Source: "access", RequestID: "r8", Status: 200, UpstreamStatus: "502, 200 : 200", Attempts: 3},
			ok:   true,
		},
		{
			name: "access id from path when the header is missing",
			line: `{"request_id":"","uri":"/r/from-path?x=1","status":"502","upstream_status":"502"}`,
			want: proxies.Evidence{Source: "access", RequestID: "from-path", Status: 502, UpstreamStatus: "502", Attempts: 1},
			ok:   true,
		},
		{
			name: "access without upstream",
			line: `{"request_id":"","uri":"/favicon.ico","status":"400","upstream_status":""}`,
			want: proxies.Evidence{Source: "access", Status: 400},
			ok:   true,
		},
		{
			name: "premature close (FIN)",
			line: `2026/11/22 05:31:49 [error] 18046#18046: *7 upstream prematurely closed connection while reading response header from upstream, client: 127.0.0.1, server: , request: "GET /r/t-12 HTTP/1.1", upstream: "http://127.0.0.1:19090/r/t-12", host: "127.0.0.1:18080"`,
			want: proxies.Evidence{Source: "error", RequestID: "t-12", Message: "upstream prematurely closed connection while reading response header from upstream"},
			ok:   true,
		},
		{
			name: "connection reset (RST)",
			line: `2026/11/22 05:31:49 [error] 18046#18046: *9 recv() failed (104: Connection reset by peer) while reading response header from upstream, client: 127.0.0.1, server: , request: "POST /r/p-3 HTTP/1.1", upstream: "http://127.0.0.1:19090/r/p-3", host: "127.0.0.1:18080"`,
			want: proxies.Evidence{Source: "error", RequestID: "p-3", Message: "recv() failed (104: Connection reset by peer) while reading response header from upstream"},
			ok:   true,
		},
		{
			name: "info line naming a request",
			line: `2026/11/22 05:31:49 [info] 18046#18046: *3 epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while sending request to upstream, client: 127.0.0.1, server: , request: "GET /r/q HTTP/1.1", upstream: "http://127.0.0.1:19090/r/q", host: "x"`,
			want: proxies.Evidence{Source: "error", RequestID: "q", Message: "epoll_wait() reported that client prematurely closed connection, so upstream connection is closed too while sending request to upstream"},
			ok:   true,
		},
		{
			name: "error without request",
			line: `2026/11/22 05:31:49 [alert] 18041#18041: worker process 18046 exited on signal 9`,
			want: proxies.Evidence{Source: "error", Message: "worker process 18046 exited on signal 9"},
			ok:   true,
		},
		{
			name: "emerg before the log is set up",
			line: `nginx: [emerg] bind() to 127.0.0.1:18080 failed (98: Address already in use)`,
			want: proxies.Evidence{Source: "error", Message: "bind() to 127.0.0.1:18080 failed (98: Address already in use)"},
			ok:   true,
		},
		{
			name: "request outside the prefix",
			line: `2026/11/22 05:31:49 [error] 1#1: *1 connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: , request: "GET /other HTTP/1.1", upstream: "http://127.0.0.1:1/other", host: "x"`,
			want: proxies.Evidence{Source: "error", Message: "connect() failed (111: Connection refused) while connecting to upstream"},
			ok:   true,
		},
		{name: "info keepalive close", line: `2026/11/22 05:31:49 [info] 18046#18046: *1 client 127.0.0.1 closed keepalive connection`},
		{name: "notice start", line: `2026/11/22 05:31:49 [notice] 18041#18041: start worker process 18046`},
		{name: "validate chatter", line: `nginx: the configuration file /tmp/x/nginx.conf syntax is ok`},
		{name: "broken json", line: `{"request_id":"abc"`},
		{name: "empty", line: ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, ok := Adapter{}.ParseLog(tc.line)
			require.Equal(t, tc.ok, ok)
			if !ok {
				return
			}
			require.Equal(t, tc.line, ev.Raw)
			ev.Raw = ""
			require.Equal(t, tc.want, ev)
		})
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]string{
		"nginx version: nginx/1.22.1\n":          "1.22.1",
		"nginx version: nginx/1.26.3 (Ubuntu)\n": "1.26.3",
		"nginx version: openresty/1.21.4.1\n":    "1.21.4.1",
	} {
		got, err := Adapter{}.ParseVersion(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	_, err := Adapter{}.ParseVersion("bash: nginx: command not found")
	require.ErrorContains(t, err, "parse nginx version")
}

func TestAdapterBasics(t *testing.T) {
	a := Adapter{}
	require.Equal(t, proxies.KindNginx, a.Kind())
	require.Equal(t, "nginx", a.Binary())
	require.Equal(t, []string{"-v"}, a.VersionArgs())
	require.Equal(t, syscall.SIGTERM, a.StopSignal())
	require.Equal(t, "nginx:1.26.3", a.Image("1.26.3"))
	require.Equal(t, "nginx", a.Image(""))
}

func ExampleAdapter_ParseLog() {
	line := `{"request_id":"t-1","uri":"/r/t-1","status":"200","upstream_status":"502, 200"}`
	ev, _ := Adapter{}.ParseLog(line)
	fmt.Println(ev.Source, ev.RequestID, ev.Status, ev.UpstreamStatus, ev.Attempts)
	// Output: access t-1 200 502, 200 2
}
