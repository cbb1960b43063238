package guard

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadLaunches(t *testing.T) {
	tests := []struct {
		spec, name string
		want       []string
		source     string
		explain    string
		note       string
		err        string
	}{
		// compose: list and string commands, sh -c, environment.
		{spec: "gunicorn:testdata/compose/docker-compose.yml", err: "ambiguous: 2 gunicorn command lines set different keep-alives:\n  testdata/compose/docker-compose.yml:11: service web: 75000ms\n  testdata/compose/docker-compose.yml:32: service reports: 5000ms"},
		{spec: "gunicorn:testdata/compose/docker-compose.yml#web", want: []string{"75000ms"}, source: "testdata/compose/docker-compose.yml:11",
			explain: "--keep-alive 75 (whole seconds, gunicorn's unit) in service web"},
		{spec: "gunicorn:testdata/compose/docker-compose.yml", name: "reports", want: []string{"5000ms"}, source: "testdata/compose/docker-compose.yml:32"},
		{spec: "uvicorn:testdata/compose/docker-compose.yml", want: []string{"65000ms"}, source: "testdata/compose/docker-compose.yml:23"},
		{spec: "puma:testdata/compose/docker-compose.yml", want: []string{"95000ms"}, explain: "PUMA_PERSISTENT_TIMEOUT 95",
			note: "a persistent_timeout in config/puma.rb would override the environment"},
		{spec: "gunicorn:testdata/compose/docker-compose.yml#nope", err: `no gunicorn command line named "nope" (found: proxy, web, api, admin, reports, worker)`},
		// Kubernetes: multi-document, several workloads and containers.
		{spec: "gunicorn:testdata/kubernetes/api.yaml", err: "ambiguous: 2 gunicorn command lines"},
		{spec: "gunicorn:testdata/kubernetes/api.yaml#api", want: []string{"65000ms"}, source: "testdata/kubernetes/api.yaml:27",
			explain: "in container api/app"},
		{spec: "gunicorn:testdata/kubernetes/api.yaml#internal", want: []string{"2000ms"}, explain: "--keep-alive not given: gunicorn's default 2s"},
		{spec: "uvicorn:testdata/kubernetes/uvicorn.yaml", want: []string{"70000ms"}, explain: "UVICORN_TIMEOUT_KEEP_ALIVE 70 (whole seconds, from the environment) in container search/search"},
		{spec: "gunicorn:testdata/kubernetes/args-only.yaml", want: []string{"90000ms"},
			note: "container web/web has args but no command: the image's entrypoint is taken to be gunicorn"},
		{spec: "uvicorn:testdata/kubernetes/api.yaml", err: "no uvicorn command line found"},
		// Procfile and shell.
		{spec: "gunicorn:testdata/procfile/Procfile", want: []string{"95000ms"}, source: "testdata/procfile/Procfile:1", explain: "in process web"},
		{spec: "uvicorn:testdata/shell/entrypoint.sh", want: []string{"65000ms"}, source: "testdata/shell/entrypoint.sh:8"},
		// The runtime's own files still read as before.
		{spec: "gunicorn:testdata/gunicorn/gunicorn.conf.py", name: "web", err: "has a single value"},
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

func TestLaunchForms(t *testing.T) {
	yaml := func(s string) string { return s }
	cases := []struct {
		name, file, text string
		kind             string
		want             []string
		err              string
	}{
		{"compose entrypoint and command", "c.yaml", yaml("services:\n  app:\n    entrypoint: [\"/usr/bin/tini\", \"--\"]\n    command: gunicorn app:app --keep-alive=30 -kgevent\n"), "gunicorn", []string{"30000ms"}, ""},
		{"gunicorn sync worker", "c.yaml", "services:\n  app:\n    command: gunicorn app:app --keep-alive 30 --worker-class sync\n", "gunicorn", []string{"off"}, ""},
		{"GUNICORN_CMD_ARGS", "c.yaml", "services:\n  app:\n    command: gunicorn app:app\n    environment:\n      GUNICORN_CMD_ARGS: \"--keep-alive 40 -k gthread\"\n", "gunicorn", []string{"40000ms"}, ""},
		{"command line overrides GUNICORN_CMD_ARGS", "c.yaml", "services:\n  app:\n    command: gunicorn app:app --keep-alive 50\n    environment:\n      GUNICORN_CMD_ARGS: \"--keep-alive 40\"\n", "gunicorn", []string{"50000ms"}, ""},
		{"same value twice is no ambiguity", "c.yaml", "services:\n  a:\n    command: uvicorn a:app --timeout-keep-alive 65\n  b:\n    command: [\"uvicorn\", \"b:app\", \"--timeout-keep-alive=65\"]\n", "uvicorn", []string{"65000ms", "65000ms"}, ""},
		{"a variable is not a number", "run.sh", "#!/bin/sh\nexec uvicorn app:app --timeout-keep-alive \"$KA\"\n", "uvicorn", nil, `run.sh:2: --timeout-keep-alive "$KA"`},
		{"a variable the script sets", "run.sh", "#!/bin/bash\nKA=75\nexec uvicorn app:app --timeout-keep-alive \"$KA\"\n", "uvicorn", []string{"75000ms"}, ""},
		{"env prefix", "Procfile", "web: UVICORN_TIMEOUT_KEEP_ALIVE=80 uvicorn app:app\n", "uvicorn", []string{"80000ms"}, ""},
		{"bad Procfile line", "Procfile", "web gunicorn app\n", "gunicorn", nil, "Procfile:1: want a Procfile line"},
		{"bad YAML", "c.yaml", "services: [\n", "gunicorn", nil, "c.yaml: YAML"},
		{"compose without services", "c.yaml", "version: '3'\n", "gunicorn", nil, "not a compose file"},
		{"kubernetes command as a string", "k.yaml", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: a\n      command: gunicorn app\n", "gunicorn", nil, "k.yaml:6: container Pod/a: command and args are lists"},
		{"node has no command line", "c.yaml", "services:\n  a:\n    command: node server.js\n", "node", nil, "no keepAliveTimeout"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := ReadBackend(tt.kind+":/x/"+tt.file, withFS(memFS{"/x/" + tt.file: tt.text}))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, shows(vals))
		})
	}
}

func TestLaunchPumaDefault(t *testing.T) {
	text := "web: bundle exec puma -C config/puma.rb\n"
	vals, err := ReadBackend("puma:/x/Procfile", withFS(memFS{"/x/Procfile": text}))
	require.NoError(t, err)
	assert.Equal(t, []string{"20000ms"}, shows(vals))
	assert.True(t, vals[0].Default)
	assert.Contains(t, strings.Join(vals[0].Notes, "\n"), "the config file config/puma.rb may set persistent_timeout")
	vals, err = ReadBackend("puma:/x/Procfile", withFS(memFS{"/x/Procfile": text}), WithVersion("7.1.0"))
	require.NoError(t, err)
	assert.Equal(t, []string{"65000ms"}, shows(vals))
}
