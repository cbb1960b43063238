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
)

// Writer streams results as JSON lines. Every Write is one line, written
// through to the underlying writer at once (and synced when it is a file),
// so an interrupted run leaves a valid file. Safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

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
		// A crash after this line keeps it; cheap next to a trial.
		_ = f.Sync()
	}
	return nil
}

// Run is a results file read back.
type Run struct {
	Manifest *Manifest
	Cells    []*Cell // in start order; cell_end lines update them
	Records  []Record
	// Verdicts are the expectation verdicts the run recorded (a verdicts
	// line; when a file has several, the last one counts); HasVerdicts
	// tells a run without expectations (a line with none) from a file
	// that has no verdicts line at all.
	Verdicts    []Verdict
	HasVerdicts bool
	// Dropped describes lines that could not be read (a line cut off by an
	// interrupted run, or garbage), by 1-based line number.
	Dropped []string
}

// CellByID returns the cell with id, or nil.
func (r *Run) CellByID(id string) *Cell {
	for _, c := range r.Cells {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// Read reads a results file. Lines that do not parse are skipped and
// described in Run.Dropped; only a read error fails.
func Read(rd io.Reader) (*Run, error) {
	run := &Run{}
	br := bufio.NewReaderSize(rd, 64<<10)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			complete := len(line) > 0 && line[len(line)-1] == '\n'
			if perr := run.add(bytes.TrimSpace(line)); perr != nil {
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

// ReadFile reads the results file at path.
func ReadFile(path string) (*Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	return Read(f)
}

func (r *Run) add(line []byte) error {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return fmt.Errorf("not JSON: %v", err)
	}
	switch head.Type {
	case TypeManifest:
		var m Manifest
		if err := json.Unmarshal(line, &m); err != nil {
			return err
		}
		r.Manifest = &m
	case TypeCell:
		var c Cell
		if err := json.Unmarshal(line, &c); err != nil {
			return err
		}
		r.Cells = append(r.Cells, &c)
	case TypeCellEnd:
		var c Cell
		if err := json.Unmarshal(line, &c); err != nil {
			return err
		}
		if prev := r.CellByID(c.ID); prev != nil {
			prev.Error = c.Error
			if c.Note != "" {
				prev.Note = c.Note
			}
			for k, v := range c.Proxy {
				if prev.Proxy == nil {
					prev.Proxy = map[string]string{}
				}
				prev.Proxy[k] = v
			}
		}
	case TypeTrial:
		var rec Record
		if err := json.Unmarshal(line, &rec); err != nil {
			return err
		}
		r.Records = append(r.Records, rec)
	case TypeVerdicts:
		var v VerdictsLine
		if err := json.Unmarshal(line, &v); err != nil {
			return err
		}
		r.Verdicts = v.Verdicts
		r.HasVerdicts = true
	default:
		return fmt.Errorf("unknown line type %q", head.Type)
	}
	return nil
}
