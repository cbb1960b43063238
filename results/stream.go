package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Writer streams results as JSON lines. Every Write is one line, written
// through to the underlying writer at once (no buffering in the process),
// so an interrupted or killed run leaves a valid file. A file is also
// synced to disk at most every SyncEvery, so a machine crash loses at most
// that much. Safe for concurrent use.
type Writer struct {
	mu       sync.Mutex
	w        io.Writer
	err      error
	lastSync time.Time
}

// SyncEvery bounds how often a results file is synced to disk: a sync per
// line would cost more than a trial.
const SyncEvery = time.Second

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write encodes v (a Manifest, Cell, Record or VerdictsLine) as one line.
func (w *Writer) Write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("write result: %w", err)
		return w.err
	}
	if f, ok := w.w.(*os.File); ok {
		if now := time.Now(); now.Sub(w.lastSync) >= SyncEvery {
			w.lastSync = now
			_ = f.Sync()
		}
	}
	return nil
}

// Read reads a results file line by line into a Run: memory stays flat
// in the number of records (see Run). Lines that do not parse are skipped
// and described in Run.Dropped; only a read error fails.
func Read(rd io.Reader) (*Run, error) {
	run := NewRun()
	br := bufio.NewReaderSize(rd, 64<<10)
	for n := 1; ; n++ {
		line, long, err := readLine(br)
		if long {
			run.Dropped = append(run.Dropped, fmt.Sprintf("line %d: longer than %d bytes", n, MaxLineBytes))
		} else if len(bytes.TrimSpace(line)) > 0 {
			complete := line[len(line)-1] == '\n'
			if perr := run.addLine(bytes.TrimSpace(line)); perr != nil {
				why := perr.Error()
				if !complete {
					why = "cut off (no newline): " + why
				}
				run.Dropped = append(run.Dropped, fmt.Sprintf("line %d: %s", n, why))
			}
		}
		if errors.Is(err, io.EOF) {
			return run, nil
		}
		if err != nil {
			return run, fmt.Errorf("read results: %w", err)
		}
	}
}

// MaxLineBytes bounds one line of a results file: a longer line is
// dropped, not held in memory.
const MaxLineBytes = 4 << 20

// readLine reads one line, newline included. A line longer than
// MaxLineBytes is read to its end and discarded: long is true.
func readLine(br *bufio.Reader) (line []byte, long bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > MaxLineBytes {
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			return nil, true, err
		}
		line = append(line, chunk...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, false, err
		}
	}
}

// ReadFile reads the results file at path.
func ReadFile(path string) (*Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	return Read(f)
}

func (r *Run) addLine(line []byte) error {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	var v any
	switch head.Type {
	case TypeManifest:
		v = &Manifest{}
	case TypeCell, TypeCellEnd:
		v = &Cell{}
	case TypeTrial:
		v = &Record{}
	case TypeVerdicts:
		v = &VerdictsLine{}
	default:
		return fmt.Errorf("unknown line type %q", head.Type)
	}
	if err := json.Unmarshal(line, v); err != nil {
		return err
	}
	if rec, ok := v.(*Record); ok && rec.Cell == "" {
		return fmt.Errorf("trial line without a cell")
	}
	if c, ok := v.(*Cell); ok && c.ID == "" {
		return fmt.Errorf("%s line without a cell id", c.Type)
	}
	return r.Add(v)
}
