package images

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCommandUsage(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string
		stderr   string
		noStdout bool
	}{
		{name: "no command", args: nil, code: 2, stderr: "Usage: racelab images", noStdout: true},
		{name: "help", args: []string{"-h"}, code: 0, stdout: "Examples:"},
		{name: "help word", args: []string{"help"}, code: 0, stdout: "racelab images build -suite bookworm"},
		{name: "build help", args: []string{"build", "-h"}, code: 0, stdout: "-mirror url"},
		{name: "unknown command", args: []string{"push"}, code: 2, stderr: `unknown command "push"`, noStdout: true},
		{name: "unknown flag", args: []string{"build", "-bogus"}, code: 2, stderr: "flag provided but not defined: -bogus", noStdout: true},
		{name: "not a suite", args: []string{"build", "-suite", "bookworm,jammy"}, code: 2, stderr: `"jammy" is not a Debian suite`, noStdout: true},
		{name: "bad suite name", args: []string{"build", "-suite", "../etc"}, code: 2, stderr: `"../etc" is not a Debian suite`, noStdout: true},
		{name: "empty suite", args: []string{"build", "-suite", ","}, code: 2, stderr: "names no suite", noStdout: true},
		{name: "list argument", args: []string{"list", "extra"}, code: 2, stderr: `unexpected argument "extra"`, noStdout: true},
		{name: "prune argument", args: []string{"prune", "all"}, code: 2, stderr: `unexpected argument "all"`, noStdout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Command(t.Context(), tt.args, &stdout, &stderr)
			assert.Equal(t, tt.code, code, "stderr: %s", stderr.String())
			assert.Contains(t, stdout.String(), tt.stdout)
			assert.Contains(t, stderr.String(), tt.stderr)
			if tt.noStdout {
				assert.Empty(t, stdout.String())
			}
		})
	}
}

func TestBuildRefusesBadSuite(t *testing.T) {
	_, err := Build(t.Context(), "jammy")
	assert.ErrorContains(t, err, `suite "jammy": want a Debian suite`)
}

// testLogger logs through t.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
