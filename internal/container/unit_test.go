package container

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
	"github.com/racelab/racelab/proxies/squid"
)

func TestBundleTar(t *testing.T) {
	b := &proxies.Bundle{
		Dir:   "/etc/racelab/nginx",
		Files: map[string]string{"nginx.conf": "worker_processes 1;\n", "conf.d/extra.conf": "# extra\n"},
		Dirs:  []string{"client_body_temp", "temp/proxy"},
	}
	data, err := bundleTar(b, 1000, 1001)
	require.NoError(t, err)

	type entry struct {
		typ     byte
		mode    int64
		content string
	}
	got := map[string]entry{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		c, err := io.ReadAll(tr)
		require.NoError(t, err)
		assert.Equal(t, 1000, hdr.Uid, hdr.Name)
		assert.Equal(t, 1001, hdr.Gid, hdr.Name)
		got[hdr.Name] = entry{hdr.Typeflag, hdr.Mode, string(c)}
		order = append(order, hdr.Name)
	}
	assert.Equal(t, map[string]entry{
		"etc/racelab/nginx/":                  {tar.TypeDir, 0o700, ""},
		"etc/racelab/nginx/client_body_temp/": {tar.TypeDir, 0o700, ""},
		"etc/racelab/nginx/conf.d/":           {tar.TypeDir, 0o700, ""},
		"etc/racelab/nginx/temp/":             {tar.TypeDir, 0o700, ""},
		"etc/racelab/nginx/temp/proxy/":       {tar.TypeDir, 0o700, ""},
		"etc/racelab/nginx/conf.d/extra.conf": {tar.TypeReg, 0o644, "# extra\n"},
		"etc/racelab/nginx/nginx.conf":        {tar.TypeReg, 0o644, "worker_processes 1;\n"},
	}, got)
	// Parents come before children.
	seen := map[string]bool{}
	for _, name := range order {
		parent := name[:strings.LastIndex(strings.TrimSuffix(name, "/"), "/")+1]
		if parent != "etc/racelab/" {
			assert.True(t, seen[parent], "%s before its parent %s", name, parent)
		}
		seen[name] = true
	}
}

func TestBundleTarRefusesEscapes(t *testing.T) {
	tests := map[string]*proxies.Bundle{
		"relative dir":    {Dir: "etc/racelab"},
		"root dir":        {Dir: "/"},
		"unclean dir":     {Dir: "/etc/racelab/../x"},
		"file escapes":    {Dir: "/etc/racelab/nginx", Files: map[string]string{"../../passwd": "x"}},
		"absolute file":   {Dir: "/etc/racelab/nginx", Files: map[string]string{"/etc/passwd": "x"}},
		"dir escapes":     {Dir: "/etc/racelab/nginx", Dirs: []string{"../haproxy"}},
		"file is the dir": {Dir: "/etc/racelab/nginx", Files: map[string]string{".": "x"}},
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := bundleTar(b, 0, 0)
			assert.Error(t, err)
		})
	}
}

func TestSignalName(t *testing.T) {
	tests := map[syscall.Signal]string{
		syscall.SIGTERM:  "SIGTERM",
		syscall.SIGQUIT:  "SIGQUIT",
		syscall.SIGUSR1:  "SIGUSR1",
		syscall.SIGWINCH: "28",
	}
	for sig, want := range tests {
		got, err := signalName(sig)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	got, err := signalName(nil)
	require.NoError(t, err)
	assert.Equal(t, "SIGTERM", got)
}

func TestCheckLoopback(t *testing.T) {
	assert.NoError(t, checkLoopback("127.0.0.1:8080"))
	assert.NoError(t, checkLoopback("[::1]:8080"))
	assert.ErrorContains(t, checkLoopback("0.0.0.0:8080"), "want a loopback address")
	assert.ErrorContains(t, checkLoopback("localhost:8080"), "want a loopback address")
	assert.Error(t, checkLoopback("127.0.0.1"))
}

func TestLineWriter(t *testing.T) {
	a := &lineAdapter{}
	sink := &logSink{adapter: a, evidence: proxies.NewEvidenceLog(), logger: discard}
	w := &lineWriter{sink: sink, stream: "stderr"}
	for _, chunk := range []string{"fir", "st\nsec", "ond\r\n\nthird"} {
		n, err := w.Write([]byte(chunk))
		require.NoError(t, err)
		require.Equal(t, len(chunk), n)
	}
	assert.Equal(t, []string{"first", "second", ""}, a.lines)
	w.flush()
	assert.Equal(t, []string{"first", "second", "", "third"}, a.lines)

	// A line with no newline is cut at maxLine.
	a.lines = nil
	_, _ = w.Write(bytes.Repeat([]byte("x"), maxLine+10))
	require.Len(t, a.lines, 1)
	assert.Len(t, a.lines[0], maxLine+10)

	// Evidence goes to the log by request id.
	a.lines = nil
	_, _ = w.Write([]byte("req=abc\n"))
	assert.Len(t, sink.evidence.ForRequest("abc"), 1)
}

func TestLogSinkTail(t *testing.T) {
	sink := &logSink{adapter: &lineAdapter{}, evidence: proxies.NewEvidenceLog(), logger: discard}
	for i := range tailLines + 5 {
		sink.line("stdout", strings.Repeat("l", i+1))
	}
	tail := strings.Split(sink.Tail(), "\n")
	require.Len(t, tail, tailLines)
	assert.Equal(t, strings.Repeat("l", 6), tail[0])
	assert.Equal(t, strings.Repeat("l", tailLines+5), tail[tailLines-1])
}

// lineAdapter records every line; "req=<id>" lines are evidence.
type lineAdapter struct {
	proxies.Adapter
	lines []string
}

func (a *lineAdapter) ParseLog(line string) (proxies.Evidence, bool) {
	a.lines = append(a.lines, line)
	if id, ok := strings.CutPrefix(line, "req="); ok {
		return proxies.Evidence{Source: "access", RequestID: id, Raw: line}, true
	}
	return proxies.Evidence{}, false
}

func TestCleanupLabels(t *testing.T) {
	assert.Equal(t, map[string]string{LabelManaged: "true"}, cleanupLabels(""))
	assert.Equal(t, map[string]string{LabelManaged: "true", LabelRun: "r1"}, cleanupLabels("r1"))
	f := labelFilters(cleanupLabels("r1"))
	assert.Equal(t, client.Filters{"label": {LabelManaged + "=true": true, LabelRun + "=r1": true}}, f)
}

func TestRemoveLabelled(t *testing.T) {
	api := &fakeContainers{items: []container.Summary{
		{ID: "aaa", Labels: map[string]string{LabelManaged: "true", LabelRun: "r1"}},
		{ID: "bbb", Labels: map[string]string{LabelManaged: "true", LabelRun: "r2"}}, // another run
		{ID: "ccc", Labels: map[string]string{"com.example": "x"}},                   // not racelab's
		{ID: "ddd", Labels: map[string]string{LabelManaged: "true", LabelRun: "r1"}}, // gone meanwhile
		{ID: "eee", Labels: map[string]string{LabelManaged: "true", LabelRun: "r1"}}, // engine refuses
	}, gone: map[string]bool{"ddd": true}, fail: map[string]bool{"eee": true}}

	removed, err := removeLabelled(t.Context(), api, cleanupLabels("r1"))
	assert.Equal(t, []string{"aaa"}, removed)
	assert.ErrorContains(t, err, "remove container eee: engine says no")
	assert.Equal(t, []string{"aaa", "ddd", "eee"}, api.removeCalls)

	_, err = removeLabelled(t.Context(), api, nil)
	assert.ErrorContains(t, err, "refusing an empty label selector")
}

// fakeContainers lists every item whatever the filter, to show that
// removeLabelled checks labels itself.
type fakeContainers struct {
	items       []container.Summary
	gone, fail  map[string]bool
	removeCalls []string
}

func (f *fakeContainers) ContainerList(context.Context, client.ContainerListOptions) (client.ContainerListResult, error) {
	return client.ContainerListResult{Items: f.items}, nil
}

func (f *fakeContainers) ContainerRemove(_ context.Context, id string, _ client.ContainerRemoveOptions) (client.ContainerRemoveResult, error) {
	f.removeCalls = append(f.removeCalls, id)
	switch {
	case f.gone[id]:
		return client.ContainerRemoveResult{}, cerrdefs.ErrNotFound.WithMessage("no such container: " + id)
	case f.fail[id]:
		return client.ContainerRemoveResult{}, errors.New("engine says no")
	}
	return client.ContainerRemoveResult{}, nil
}

func TestEngineStream(t *testing.T) {
	assert.NoError(t, engineStream(strings.NewReader(`{"status":"sha256:abc"}`+"\n")))
	assert.EqualError(t, engineStream(strings.NewReader(`{"status":"x"}{"errorDetail":{"message":"no space left"},"error":"no space left"}`)), "no space left")
	assert.EqualError(t, engineStream(strings.NewReader(`{"error":"bad tar"}`)), "bad tar")
	assert.Error(t, engineStream(strings.NewReader(`{"status":`)))
}

// TestRunnable: a bundle whose proxy reopens its output after dropping
// root runs only with a ContainerUser whose pipes they are (Squid's
// renders "proxy").
func TestRunnable(t *testing.T) {
	require.Error(t, runnable(&proxies.Bundle{SharedOutput: true}))
	require.ErrorContains(t, runnable(&proxies.Bundle{SharedOutput: true}), "use the process runtime")
	require.NoError(t, runnable(&proxies.Bundle{SharedOutput: true, ContainerUser: "proxy"}))
	require.NoError(t, runnable(&proxies.Bundle{}))
	b, err := squid.Adapter{}.Render(proxies.Spec{Kind: proxies.KindSquid, Listen: "127.0.0.1:18080", Upstream: "127.0.0.1:18081", Retry: proxies.RetryOff}, "/racelab/squid")
	require.NoError(t, err)
	require.NoError(t, runnable(b))
	data, err := bundleTar(b, 0, 0)
	require.NoError(t, err)
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if h.Typeflag == tar.TypeDir {
			require.Equal(t, int64(0o755), h.Mode, "%s: the proxy user must reach the files", h.Name)
		}
	}
}
