package process

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
)

// maxLineBytes bounds one output line; the rest of a longer line is
// dropped, and the pipe is still drained so the proxy never blocks on it.
const maxLineBytes = 64 << 10

// readLines calls fn for every line of r, without its line ending, until
// r ends. Lines longer than max bytes are cut to max bytes.
func readLines(r io.Reader, max int, fn func(string)) {
	br := bufio.NewReaderSize(r, 4096)
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) <= max {
			buf = append(buf, chunk...)
		} else if len(buf) < max {
			buf = append(buf, chunk[:max-len(buf)]...)
		}
		switch {
		case err == nil:
			fn(string(bytes.TrimRight(buf, "\r\n")))
			buf = buf[:0]
		case errors.Is(err, bufio.ErrBufferFull):
			// The line goes on; keep reading it.
		default:
			if len(buf) > 0 {
				fn(string(bytes.TrimRight(buf, "\r\n")))
			}
			return
		}
	}
}

// tail keeps the last n lines. Safe for concurrent use.
type tail struct {
	mu    sync.Mutex
	n     int
	lines []string
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) add(line string) {
	t.mu.Lock()
	t.lines = append(t.lines, line)
	if len(t.lines) > 2*t.n {
		t.lines = append(t.lines[:0:0], t.lines[len(t.lines)-t.n:]...)
	}
	t.mu.Unlock()
}

// last returns up to the n most recent lines, oldest first (all kept
// lines when n <= 0).
func (t *tail) last(n int) []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if len(lines) > t.n {
		lines = lines[len(lines)-t.n:]
	}
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return append([]string(nil), lines...)
}

// summary joins the last n lines for an error message.
func (t *tail) summary(n int) string {
	lines := t.last(n)
	if len(lines) == 0 {
		return "no output"
	}
	return strings.Join(lines, " | ")
}
