package container

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/racelab/racelab/proxies"
)

// Bounds of the log reader.
const (
	// tailLines is how many recent log lines are kept for error messages.
	tailLines = 20
	// maxLine bounds a line without a newline; longer input is split.
	maxLine = 64 << 10
)

// logSink turns a proxy's output into evidence and keeps its last lines.
type logSink struct {
	adapter  proxies.Adapter
	evidence *proxies.EvidenceLog
	logger   *slog.Logger

	mu   sync.Mutex
	tail []string
}

func (s *logSink) line(stream, text string) {
	s.logger.Debug("proxy log", "stream", stream, "line", text)
	s.mu.Lock()
	s.tail = append(s.tail, text)
	if len(s.tail) > tailLines {
		s.tail = s.tail[len(s.tail)-tailLines:]
	}
	s.mu.Unlock()
	if ev, ok := s.adapter.ParseLog(text); ok {
		s.evidence.Add(ev)
	}
}

// Tail returns the most recent log lines, oldest first, joined by newlines.
func (s *logSink) Tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tail, "\n")
}

// lineWriter splits a byte stream into lines for a logSink.
type lineWriter struct {
	sink   *logSink
	stream string
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) >= maxLine {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineWriter) emit(b []byte) {
	w.sink.line(w.stream, strings.TrimRight(string(b), "\r"))
}

// flush emits a last line that had no newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

// logsClient is the part of the engine client the log reader needs.
type logsClient interface {
	ContainerLogs(ctx context.Context, id string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
}

// follow streams the container's stdout and stderr, from its start, into
// sink until the container exits or ctx is done. It closes done when it
// returns and reports why the stream ended through err.
func follow(ctx context.Context, cli logsClient, id string, sink *logSink, done chan<- struct{}, errp *error) {
	defer close(done)
	rc, err := cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     true,
	})
	if err != nil {
		*errp = fmt.Errorf("follow logs: %w", err)
		return
	}
	defer rc.Close()
	out := &lineWriter{sink: sink, stream: "stdout"}
	errw := &lineWriter{sink: sink, stream: "stderr"}
	_, err = stdcopy.StdCopy(out, errw, rc)
	out.flush()
	errw.flush()
	if err != nil && err != io.EOF && ctx.Err() == nil {
		*errp = fmt.Errorf("follow logs: %w", err)
	}
}
