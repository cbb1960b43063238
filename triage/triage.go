package triage

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"
)

// Format names a log format.
type Format string

// The formats triage reads.
const (
	FormatAuto    Format = "auto"
	FormatNginx   Format = "nginx"   // combined access log, plus the error log
	FormatHAProxy Format = "haproxy" // option httplog
	FormatEnvoy   Format = "envoy"   // default text format, or JSON with Envoy's field names
	FormatALB     Format = "alb"     // AWS Application Load Balancer access log
	FormatGCLB    Format = "gclb"    // Google Cloud load balancer request logs, one JSON entry a line
	FormatCaddy   Format = "caddy"   // Caddy's JSON access and error logs
)

// Formats lists the formats in the order help text shows them.
var Formats = []Format{FormatALB, FormatGCLB, FormatNginx, FormatHAProxy, FormatEnvoy, FormatCaddy, FormatAuto}

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if string(f) == s {
			return f, nil
		}
	}
	return "", fmt.Errorf("format %q: want one of alb, gclb, nginx, haproxy, envoy, caddy, auto", s)
}

// Class is what a line's response was.
type Class string

// Classes. Every 5xx gets exactly one of the five failure classes.
const (
	ClassOK       Class = "ok"          // not a 5xx
	ClassRace     Class = "race"        // the proxy's own cause code for a stale reused connection
	ClassBackend  Class = "backend_5xx" // the backend answered the 5xx itself
	ClassTimeout  Class = "timeout"     // the backend did not answer in time (504)
	ClassCapacity Class = "capacity"    // no backend to send to, or a limit (503)
	ClassOther    Class = "other"       // any other 5xx: connect refused, protocol errors, unknown
)

// Entry is one parsed request line.
type Entry struct {
	File string
	Line int
	// Time is when the request went (or came) in; zero when the line has
	// none. Resolution is how precise the format's timestamps are.
	Time       time.Time
	Resolution time.Duration
	Status     int
	// Target is the backend the request went to (address, or
	// backend/server); empty when the format names none.
	Target string
	Class  Class
	// Field is the field, and its value, that Class rests on.
	Field string
	// Gap is the time since the previous request to the same Target
	// (HasGap false for the first one, or when times are missing or go
	// backwards).
	Gap    time.Duration
	HasGap bool
}

// Unparsed is a line that is not a line of the format: counted, never
// skipped silently.
type Unparsed struct {
	File   string
	Line   int
	Reason string
}

// Option configures Analyze.
type Option func(*options)

type options struct {
	format    Format
	onEntry   func(Entry)
	proxyIdle time.Duration
}

// WithFormat sets the format (default auto: sniffed per file).
func WithFormat(f Format) Option { return func(o *options) { o.format = f } }

// WithEntries calls fn for every parsed line, in order, after it is
// classified.
func WithEntries(fn func(Entry)) Option { return func(o *options) { o.onEntry = fn } }

// WithProxyIdle sets the proxy's upstream idle timeout, for the parity
// rule in the verdict and for an emitted scenario.
func WithProxyIdle(d time.Duration) Option { return func(o *options) { o.proxyIdle = d } }

// maxLine bounds one line; a longer line is unparsed.
const maxLine = 64 << 10

// maxUnparsedKept is how many unparsed lines a Report quotes.
const maxUnparsedKept = 10

// Analyze reads the files (gzip or plain, any size, streamed) and
// classifies every request line. Error logs (nginx) are read before the
// access logs they explain, whatever the order of paths. An error is
// returned only for a file that cannot be read, or when no line of the
// input parses: a triage that read nothing must not look like a clean
// bill of health.
func Analyze(ctx context.Context, paths []string, opts ...Option) (*Report, error) {
	o := options{format: FormatAuto}
	for _, opt := range opts {
		opt(&o)
	}
	if len(paths) == 0 {
		return nil, errors.New("no log files")
	}
	type planned struct {
		path   string
		format Format
		kind   kind
	}
	var plan []planned
	for _, p := range paths {
		f, k, err := sniffFile(p, o.format)
		if err != nil {
			return nil, err
		}
		plan = append(plan, planned{p, f, k})
	}
	// Error logs first: access lines are joined to them.
	sort.SliceStable(plan, func(i, j int) bool { return plan[i].kind == kindError && plan[j].kind != kindError })
	a := newAnalysis(o)
	for _, p := range plan {
		if err := a.readFile(ctx, p.path, p.format, p.kind); err != nil {
			return nil, err
		}
	}
	rep := a.report()
	if rep.Lines == 0 {
		return rep, fmt.Errorf("no line of %d file(s) parsed as %s (%d unparsed): check --format", len(paths), o.format, rep.Unparsed)
	}
	return rep, nil
}

// kind tells an access log from an error log.
type kind int

const (
	kindAccess kind = iota
	kindError
)

// open opens path, unzipping gzip (by its magic bytes).
func open(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 256<<10)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: gzip: %w", path, err)
		}
		return struct {
			io.Reader
			io.Closer
		}{zr, f}, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{br, f}, nil
}

// sniffFile decides a file's format (when auto) and kind from its first
// non-empty lines.
func sniffFile(path string, want Format) (Format, kind, error) {
	rc, err := open(path)
	if err != nil {
		return "", 0, fmt.Errorf("open log: %w", err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	if want == FormatCaddy {
		return want, caddyKind(br), nil
	}
	for i := 0; i < 20; i++ {
		line, err := br.ReadSlice('\n')
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			f, k := sniffLine(line)
			if want != FormatAuto {
				if want == FormatNginx && f == FormatNginx {
					return want, k, nil
				}
				return want, kindAccess, nil
			}
			if f == "" {
				return "", 0, fmt.Errorf("%s:%d: cannot tell the log format from this line; give --format", path, i+1)
			}
			if f == FormatCaddy {
				k = kindAccess
				if !bytes.Contains(line, []byte(`"logger":"http.log.access`)) {
					k = caddyKind(br)
				}
			}
			return f, k, nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				break
			}
			return "", 0, fmt.Errorf("read %s: %w", path, err)
		}
	}
	if want == FormatAuto {
		want = FormatNginx
	}
	return want, kindAccess, nil
}

// caddyKind reads on (up to 1000 lines) for an access line: a Caddy log
// without one (the process's own log, where http.log.error goes by
// default) is read first, as evidence for the access lines.
func caddyKind(br *bufio.Reader) kind {
	for i := 0; i < 1000; i++ {
		line, err := br.ReadSlice('\n')
		if bytes.Contains(line, []byte(`"logger":"http.log.access`)) {
			return kindAccess
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			break
		}
	}
	return kindError
}

// sniffLine guesses the format of one line ("" when it cannot).
func sniffLine(b []byte) (Format, kind) {
	switch {
	case isNginxErrorLine(b):
		return FormatNginx, kindError
	case b[0] == '{':
		switch {
		case bytes.Contains(b, []byte(`"httpRequest"`)):
			return FormatGCLB, kindAccess
		case bytes.Contains(b, []byte(`"level":`)) && bytes.Contains(b, []byte(`"ts":`)):
			// zap's fields: Caddy's own log and its access logs.
			return FormatCaddy, kindAccess
		case bytes.Contains(b, []byte(`"response_flags"`)):
			return FormatEnvoy, kindAccess
		}
		return "", kindAccess
	case b[0] == '[' && len(b) > 25 && b[5] == '-' && b[11] == 'T':
		return FormatEnvoy, kindAccess
	case isALBLine(b):
		return FormatALB, kindAccess
	case haproxyDate(b) >= 0:
		return FormatHAProxy, kindAccess
	case bytes.Contains(b, []byte(`] "`)):
		return FormatNginx, kindAccess
	}
	return "", kindAccess
}

// parser parses one access line into e (File and Line already set);
// an error makes the line unparsed.
type parser interface {
	parse(line []byte, e *Entry) error
}

func (a *analysis) parserFor(f Format) parser {
	switch f {
	case FormatNginx:
		return &nginxAccess{errs: a.nginxErrs}
	case FormatHAProxy:
		return haproxyParser{}
	case FormatEnvoy:
		return envoyParser{}
	case FormatALB:
		return albParser{}
	case FormatGCLB:
		return gclbParser{}
	case FormatCaddy:
		return a.caddy
	}
	return nil
}

func (a *analysis) readFile(ctx context.Context, path string, f Format, k kind) error {
	rc, err := open(path)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer rc.Close()
	a.formats[f] = true
	var p parser
	switch {
	case k == kindError && f == FormatCaddy:
		p = a.caddy
	case k == kindError:
		p = &nginxErrorReader{errs: a.nginxErrs}
	default:
		p = a.parserFor(f)
	}
	br := bufio.NewReaderSize(rc, maxLine)
	n := 0
	long := false
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if !long {
				n++
				a.unparsed(path, n, "line longer than 64 KiB")
			}
			long = true
			continue
		}
		if long {
			long = false
			if err != nil {
				break
			}
			continue
		}
		if len(line) > 0 {
			n++
			if n&0xffff == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			a.line(p, path, n, line, k)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("read %s: %w", path, err)
		}
	}
	return nil
}

func (a *analysis) line(p parser, path string, n int, line []byte, k kind) {
	line = bytes.TrimRight(line, "\r\n")
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	// One Entry, reused: parsers are called through an interface, and a
	// fresh one per line would escape to the heap.
	a.entry = Entry{File: path, Line: n}
	e := &a.entry
	if err := p.parse(line, e); err != nil {
		a.unparsed(path, n, err.Error())
		return
	}
	if e.Class == "" {
		// An error-log line, or a record that is not a request (a Caddy
		// error line): evidence for the access lines, not a request.
		a.errorLines++
		return
	}
	a.add(e)
}
