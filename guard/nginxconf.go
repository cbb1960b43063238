package guard

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// ngxDirective is one nginx directive: a name, its arguments and, for
// block directives, the directives inside.
type ngxDirective struct {
	name     string
	args     []string
	block    []*ngxDirective
	hasBlock bool
	file     string
	line     int
}

func (d *ngxDirective) pos() string { return fmt.Sprintf("%s:%d", d.file, d.line) }

// find returns the directives named name directly inside d.
func (d *ngxDirective) find(name string) []*ngxDirective {
	var out []*ngxDirective
	for _, c := range d.block {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

// one returns the single directive named name inside d, nil when absent,
// and an error when it is repeated (nginx rejects that too).
func (d *ngxDirective) one(name string) (*ngxDirective, error) {
	all := d.find(name)
	switch len(all) {
	case 0:
		return nil, nil
	case 1:
		return all[0], nil
	}
	return nil, fmt.Errorf("%s: %q directive is duplicate (first at %s)", all[1].pos(), name, all[0].pos())
}

// ngxParser reads an nginx configuration the way nginx does: tokens,
// quotes, comments, blocks and includes. Relative include paths resolve
// against the main file's directory (nginx's conf prefix), globs expand
// in sorted order, and depth, cycles, file count and total size are
// bounded.
type ngxParser struct {
	fs     fileSystem
	read   func(path string) ([]byte, error)
	prefix string
	root   string
	// skipMissing tells whether a missing include may be skipped.
	skipMissing func(path string, ctx []string) bool
	stack       []string
	files       int
	total       int
	notes       []string
}

func newNgxParser(c *readConfig, main string) *ngxParser {
	return &ngxParser{fs: c.fs, read: c.read, prefix: filepath.Dir(main), root: c.root}
}

// parse reads the main file.
func (p *ngxParser) parse(path string) ([]*ngxDirective, error) {
	return p.parseFile(path, nil)
}

func (p *ngxParser) parseFile(path string, ctx []string) ([]*ngxDirective, error) {
	clean := filepath.Clean(path)
	for _, f := range p.stack {
		if f == clean {
			return nil, fmt.Errorf("include cycle: %s -> %s", strings.Join(p.stack, " -> "), clean)
		}
	}
	if len(p.stack) > maxDepth {
		return nil, fmt.Errorf("%s: includes nested deeper than %d", clean, maxDepth)
	}
	p.files++
	if p.files > maxFiles {
		return nil, fmt.Errorf("%s: more than %d files included", clean, maxFiles)
	}
	data, err := p.read(path)
	if err != nil {
		return nil, err
	}
	p.total += len(data)
	if p.total > maxTotalSize {
		return nil, fmt.Errorf("%s: included files exceed %d bytes", clean, maxTotalSize)
	}
	p.stack = append(p.stack, clean)
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	t := &ngxTokenizer{data: data, line: 1, file: display(path)}
	return p.parseBlock(t, ctx, false)
}

const maxNesting = 64

func (p *ngxParser) parseBlock(t *ngxTokenizer, ctx []string, inBlock bool) ([]*ngxDirective, error) {
	if len(ctx) > maxNesting {
		return nil, fmt.Errorf("%s:%d: blocks nested deeper than %d", t.file, t.line, maxNesting)
	}
	var out []*ngxDirective
	var cur *ngxDirective
	for {
		tok, err := t.next()
		if err != nil {
			return nil, err
		}
		switch tok.kind {
		case tokWord:
			if cur == nil {
				cur = &ngxDirective{name: tok.text, file: t.file, line: tok.line}
			} else {
				cur.args = append(cur.args, tok.text)
			}
		case tokSemicolon:
			if cur == nil {
				return nil, fmt.Errorf("%s:%d: unexpected \";\"", t.file, tok.line)
			}
			if cur.name == "include" {
				inc, err := p.include(cur, ctx)
				if err != nil {
					return nil, err
				}
				out = append(out, inc...)
			} else {
				out = append(out, cur)
			}
			cur = nil
		case tokOpen:
			if cur == nil {
				return nil, fmt.Errorf("%s:%d: unexpected \"{\"", t.file, tok.line)
			}
			block, err := p.parseBlock(t, append(ctx[:len(ctx):len(ctx)], cur.name), true)
			if err != nil {
				return nil, err
			}
			cur.block, cur.hasBlock = block, true
			out = append(out, cur)
			cur = nil
		case tokClose:
			if !inBlock || cur != nil {
				return nil, fmt.Errorf("%s:%d: unexpected \"}\"", t.file, tok.line)
			}
			return out, nil
		case tokEOF:
			if cur != nil {
				return nil, fmt.Errorf("%s:%d: unexpected end of file, expecting \";\" or \"}\"", t.file, tok.line)
			}
			if inBlock {
				return nil, fmt.Errorf("%s:%d: unexpected end of file, expecting \"}\"", t.file, tok.line)
			}
			return out, nil
		}
	}
}

// include expands an include directive in place.
func (p *ngxParser) include(d *ngxDirective, ctx []string) ([]*ngxDirective, error) {
	if len(d.args) != 1 {
		return nil, fmt.Errorf("%s: include takes one argument", d.pos())
	}
	path := d.args[0]
	switch {
	case !filepath.IsAbs(path):
		path = filepath.Join(p.prefix, path)
	case p.root != "":
		path = filepath.Join(p.root, path)
	}
	var files []string
	if hasMeta(path) {
		m, err := p.fs.Glob(path)
		if err != nil {
			return nil, fmt.Errorf("%s: include %q: %w", d.pos(), d.args[0], err)
		}
		files = m
	} else {
		files = []string{path}
	}
	var out []*ngxDirective
	for _, f := range files {
		if p.fs.IsDir(f) {
			continue
		}
		ds, err := p.parseFile(f, ctx)
		if err != nil {
			if !hasMeta(path) && p.skipMissing != nil && isNotExist(err) && p.skipMissing(f, ctx) {
				p.notes = append(p.notes, fmt.Sprintf("%s: skipped missing include %s: it cannot hold what is read here", d.pos(), d.args[0]))
				continue
			}
			return nil, fmt.Errorf("%s: include %q: %w", d.pos(), d.args[0], err)
		}
		out = append(out, ds...)
	}
	return out, nil
}

type tokKind int

const (
	tokWord tokKind = iota
	tokSemicolon
	tokOpen
	tokClose
	tokEOF
)

type ngxToken struct {
	kind tokKind
	text string
	line int
}

// ngxTokenizer splits nginx configuration text the way nginx's
// ngx_conf_read_token does, closely enough to find directives: words,
// quoted strings with escapes, "${var}" inside words, # comments at a
// token's start, and the punctuation ; { }.
type ngxTokenizer struct {
	data []byte
	pos  int
	line int
	file string
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func (t *ngxTokenizer) next() (ngxToken, error) {
	for t.pos < len(t.data) {
		c := t.data[t.pos]
		switch {
		case c == '\n':
			t.line++
			t.pos++
		case isSpace(c):
			t.pos++
		case c == '#':
			for t.pos < len(t.data) && t.data[t.pos] != '\n' {
				t.pos++
			}
		case c == ';':
			t.pos++
			return ngxToken{kind: tokSemicolon, line: t.line}, nil
		case c == '{':
			t.pos++
			return ngxToken{kind: tokOpen, line: t.line}, nil
		case c == '}':
			t.pos++
			return ngxToken{kind: tokClose, line: t.line}, nil
		case c == '"' || c == '\'':
			return t.quoted(c)
		default:
			return t.word()
		}
	}
	return ngxToken{kind: tokEOF, line: t.line}, nil
}

func (t *ngxTokenizer) quoted(q byte) (ngxToken, error) {
	line := t.line
	t.pos++
	var b strings.Builder
	for t.pos < len(t.data) {
		c := t.data[t.pos]
		switch {
		case c == '\\' && t.pos+1 < len(t.data):
			n := t.data[t.pos+1]
			switch n {
			case '"', '\'', '\\':
				b.WriteByte(n)
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 'n':
				b.WriteByte('\n')
			default:
				if n == '\n' {
					t.line++
				}
				b.WriteByte(c)
				b.WriteByte(n)
			}
			t.pos += 2
		case c == q:
			t.pos++
			if t.pos < len(t.data) {
				if n := t.data[t.pos]; !isSpace(n) && n != ';' && n != '{' && n != ')' {
					return ngxToken{}, fmt.Errorf("%s:%d: unexpected %q after quoted string", t.file, t.line, string(n))
				}
			}
			return ngxToken{kind: tokWord, text: b.String(), line: line}, nil
		default:
			if c == '\n' {
				t.line++
			}
			b.WriteByte(c)
			t.pos++
		}
	}
	return ngxToken{}, fmt.Errorf("%s:%d: unexpected end of file in quoted string", t.file, line)
}

func (t *ngxTokenizer) word() (ngxToken, error) {
	line := t.line
	var b strings.Builder
	for t.pos < len(t.data) {
		c := t.data[t.pos]
		switch {
		case isSpace(c) || c == ';' || c == '{' || c == '}':
			return ngxToken{kind: tokWord, text: b.String(), line: line}, nil
		case c == '\\' && t.pos+1 < len(t.data):
			if t.data[t.pos+1] == '\n' {
				t.line++
			}
			b.WriteByte(t.data[t.pos+1])
			t.pos += 2
		case c == '$' && t.pos+1 < len(t.data) && t.data[t.pos+1] == '{':
			end := bytes.IndexByte(t.data[t.pos:], '}')
			if end < 0 {
				return ngxToken{}, fmt.Errorf("%s:%d: unterminated \"${\" variable", t.file, line)
			}
			seg := t.data[t.pos : t.pos+end+1]
			if bytes.ContainsAny(seg, " \t\r\n;") {
				return ngxToken{}, fmt.Errorf("%s:%d: invalid \"${\" variable", t.file, line)
			}
			b.Write(seg)
			t.pos += end + 1
		default:
			b.WriteByte(c)
			t.pos++
		}
	}
	return ngxToken{kind: tokWord, text: b.String(), line: line}, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
