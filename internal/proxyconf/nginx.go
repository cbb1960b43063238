package proxyconf

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
)

// Directive is one nginx directive: a name, its arguments and, for block
// directives, the directives inside, with the file and line it starts on.
// Includes are expanded in place: an included directive carries the
// included file's name.
type Directive struct {
	Name     string
	Args     []string
	Block    []*Directive
	HasBlock bool
	File     string
	Line     int
}

// Pos is "file:line".
func (d *Directive) Pos() string { return fmt.Sprintf("%s:%d", d.File, d.Line) }

// Find returns the directives named name directly inside d.
func (d *Directive) Find(name string) []*Directive { return find(d.Block, name) }

func find(ds []*Directive, name string) []*Directive {
	var out []*Directive
	for _, c := range ds {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// One returns the single directive named name inside d, nil when absent,
// and an error when it is repeated (nginx rejects that too).
func (d *Directive) One(name string) (*Directive, error) {
	all := d.Find(name)
	switch len(all) {
	case 0:
		return nil, nil
	case 1:
		return all[0], nil
	}
	return nil, fmt.Errorf("%s: %q directive is duplicate (first at %s)", all[1].Pos(), name, all[0].Pos())
}

// Arg returns argument i, "" when there is none.
func (d *Directive) Arg(i int) string {
	if i < len(d.Args) {
		return d.Args[i]
	}
	return ""
}

// NginxParser reads an nginx configuration the way nginx does: tokens,
// quotes, comments, blocks and includes. Relative include paths resolve
// against the main file's directory (nginx's conf prefix), absolute ones
// under Root when it is set, globs expand in sorted order, and depth,
// cycles, file count and total size are bounded.
type NginxParser struct {
	FS FS
	// Read reads one file; nil reads through FS.
	Read func(path string) ([]byte, error)
	// Root, when set, holds the tree absolute include paths resolve in.
	Root string
	// SkipMissing tells whether a missing include may be skipped; ctx is
	// the enclosing block names. A skipped include leaves a note.
	SkipMissing func(path string, ctx []string) bool
	// Notes say what was skipped.
	Notes []string

	prefix string
	stack  []string
	files  int
	total  int
}

// ParseNginx parses the configuration at path through fsys (nil: the
// host's), absolute includes resolving under root when it is set.
func ParseNginx(fsys FS, path, root string) ([]*Directive, error) {
	p := &NginxParser{FS: fsys, Root: root}
	return p.Parse(path)
}

// Parse reads the main file and everything it includes.
func (p *NginxParser) Parse(path string) ([]*Directive, error) {
	if p.FS == nil {
		p.FS = OSFS{}
	}
	if p.Read == nil {
		p.Read = p.FS.ReadFile
	}
	p.prefix = filepath.Dir(path)
	return p.parseFile(path, nil)
}

func (p *NginxParser) parseFile(path string, ctx []string) ([]*Directive, error) {
	clean := filepath.Clean(path)
	for _, f := range p.stack {
		if f == clean {
			return nil, fmt.Errorf("include cycle: %s -> %s", strings.Join(p.stack, " -> "), clean)
		}
	}
	if len(p.stack) > MaxDepth {
		return nil, fmt.Errorf("%s: includes nested deeper than %d", clean, MaxDepth)
	}
	p.files++
	if p.files > MaxFiles {
		return nil, fmt.Errorf("%s: more than %d files included", clean, MaxFiles)
	}
	data, err := p.Read(path)
	if err != nil {
		return nil, err
	}
	p.total += len(data)
	if p.total > MaxTotalSize {
		return nil, fmt.Errorf("%s: included files exceed %d bytes", clean, MaxTotalSize)
	}
	p.stack = append(p.stack, clean)
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	t := &ngxTokenizer{data: data, line: 1, file: Display(path)}
	return p.parseBlock(t, ctx, false)
}

func (p *NginxParser) parseBlock(t *ngxTokenizer, ctx []string, inBlock bool) ([]*Directive, error) {
	if len(ctx) > MaxNesting {
		return nil, fmt.Errorf("%s:%d: blocks nested deeper than %d", t.file, t.line, MaxNesting)
	}
	var out []*Directive
	var cur *Directive
	for {
		tok, err := t.next()
		if err != nil {
			return nil, err
		}
		switch tok.kind {
		case tokWord:
			if cur == nil {
				cur = &Directive{Name: tok.text, File: t.file, Line: tok.line}
			} else {
				cur.Args = append(cur.Args, tok.text)
			}
		case tokSemicolon:
			if cur == nil {
				return nil, fmt.Errorf("%s:%d: unexpected \";\"", t.file, tok.line)
			}
			if cur.Name == "include" {
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
			block, err := p.parseBlock(t, append(ctx[:len(ctx):len(ctx)], cur.Name), true)
			if err != nil {
				return nil, err
			}
			cur.Block, cur.HasBlock = block, true
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
func (p *NginxParser) include(d *Directive, ctx []string) ([]*Directive, error) {
	if len(d.Args) != 1 {
		return nil, fmt.Errorf("%s: include takes one argument", d.Pos())
	}
	path := d.Args[0]
	switch {
	case !filepath.IsAbs(path):
		path = filepath.Join(p.prefix, path)
	case p.Root != "":
		path = filepath.Join(p.Root, path)
	}
	var files []string
	if HasMeta(path) {
		m, err := p.FS.Glob(path)
		if err != nil {
			return nil, fmt.Errorf("%s: include %q: %w", d.Pos(), d.Args[0], err)
		}
		files = m
	} else {
		files = []string{path}
	}
	var out []*Directive
	for _, f := range files {
		if p.FS.IsDir(f) {
			continue
		}
		ds, err := p.parseFile(f, ctx)
		if err != nil {
			if !HasMeta(path) && p.SkipMissing != nil && IsNotExist(err) && p.SkipMissing(f, ctx) {
				p.Notes = append(p.Notes, fmt.Sprintf("%s: skipped missing include %s: it cannot hold what is read here", d.Pos(), d.Args[0]))
				continue
			}
			return nil, fmt.Errorf("%s: include %q: %w", d.Pos(), d.Args[0], err)
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
// ngx_conf_read_token does: words, quoted strings, "${var}" inside words,
// # comments at a token's start, the punctuation ; { }, and nginx's
// escapes (\" \' \\ \t \r \n are replaced, any other backslash stays, so
// a regex such as ^/a\d+ reads as written).
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

// escape appends the escape at t.pos (a backslash and the next byte) the
// way nginx copies it into the argument.
func (t *ngxTokenizer) escape(b *strings.Builder) {
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
		b.WriteByte('\\')
		b.WriteByte(n)
	}
	t.pos += 2
}

func (t *ngxTokenizer) quoted(q byte) (ngxToken, error) {
	line := t.line
	t.pos++
	var b strings.Builder
	for t.pos < len(t.data) {
		c := t.data[t.pos]
		switch {
		case c == '\\' && t.pos+1 < len(t.data):
			t.escape(&b)
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
			t.escape(&b)
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

// NginxQuote renders one argument so nginx reads it back unchanged: as
// written when it holds nothing special, else in double quotes with
// nginx's escapes.
func NginxQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n;{}\"'\\") && s[0] != '#' {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// EmitNginx writes directives as one configuration file, one directive
// per line, four spaces per level, with a comment where the source file
// changes. origins[i] is the "file:line" that line i+1 comes from ("" for
// comments and closing braces).
func EmitNginx(ds []*Directive) (text string, origins []string) {
	e := &ngxEmitter{}
	e.block(ds, 0)
	return e.b.String(), e.origins
}

type ngxEmitter struct {
	b       strings.Builder
	origins []string
	file    string
}

func (e *ngxEmitter) line(s, origin string) {
	e.b.WriteString(s)
	e.b.WriteByte('\n')
	e.origins = append(e.origins, origin)
}

func (e *ngxEmitter) block(ds []*Directive, depth int) {
	ind := strings.Repeat("    ", depth)
	for _, d := range ds {
		if d.File != e.file && d.File != "" {
			e.file = d.File
			e.line(ind+"# from "+d.File, "")
		}
		var s strings.Builder
		s.WriteString(ind)
		s.WriteString(NginxQuote(d.Name))
		for _, a := range d.Args {
			s.WriteByte(' ')
			s.WriteString(NginxQuote(a))
		}
		origin := ""
		if d.File != "" {
			origin = d.Pos()
		}
		if !d.HasBlock {
			s.WriteByte(';')
			e.line(s.String(), origin)
			continue
		}
		s.WriteString(" {")
		e.line(s.String(), origin)
		e.block(d.Block, depth+1)
		e.line(ind+"}", "")
	}
}
