package proxyconf

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// CaddyfileParser reads a Caddyfile the way Caddy's lexer and parser do,
// as directives: one line of tokens (the first is the name) and the block
// a trailing "{" opens. Quotes ("..." with \" escapes, and backquotes)
// group, # starts a comment at a token's start, and a "{" or "}" is
// punctuation only as a whole token. Site addresses continued over lines
// by a trailing comma are one directive. import is expanded in place:
// snippets ("(name) { ... }") and files or globs (relative to the
// importing file's directory; absolute ones under Root), with {args[N]}
// and {args.N} replaced. Heredocs and named routes are refused.
type CaddyfileParser struct {
	FS   FS
	Root string

	snippets map[string]*Directive
	stack    []string
	files    int
	total    int
}

// argsRE matches the import argument placeholders Caddy replaces.
var argsRE = regexp.MustCompile(`\{args(?:\[(\d+)\]|\.(\d+))\}`)

// Parse reads the main file and everything it imports.
func (p *CaddyfileParser) Parse(path string) ([]*Directive, error) {
	if p.FS == nil {
		p.FS = OSFS{}
	}
	p.snippets = map[string]*Directive{}
	return p.parseFile(path, nil, 0)
}

func (p *CaddyfileParser) parseFile(path string, args []string, nesting int) ([]*Directive, error) {
	clean := filepath.Clean(path)
	for _, f := range p.stack {
		if f == clean {
			return nil, fmt.Errorf("import cycle: %s -> %s", strings.Join(p.stack, " -> "), clean)
		}
	}
	if len(p.stack) > MaxDepth {
		return nil, fmt.Errorf("%s: imports nested deeper than %d", clean, MaxDepth)
	}
	if p.files++; p.files > MaxFiles {
		return nil, fmt.Errorf("%s: more than %d files imported", clean, MaxFiles)
	}
	data, err := p.FS.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if p.total += len(data); p.total > MaxTotalSize {
		return nil, fmt.Errorf("%s: imported files exceed %d bytes", clean, MaxTotalSize)
	}
	p.stack = append(p.stack, clean)
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	file := Display(path)
	lines, err := caddyLines(file, string(data))
	if err != nil {
		return nil, err
	}
	i := 0
	ds, err := p.block(file, lines, &i, nesting, false, 0)
	if err != nil {
		return nil, err
	}
	return p.expand(ds, filepath.Dir(path), args, nesting)
}

// caddyLine is one line's tokens.
type caddyLine struct {
	toks []string
	line int
}

// caddyLines tokenizes text into lines of tokens; a "{" or "}" standing
// alone as a token is kept as punctuation ("\x00{", "\x00}").
func caddyLines(file, text string) ([]caddyLine, error) {
	var out []caddyLine
	line := 1
	var cur []string
	curLine := 1
	flush := func() {
		if len(cur) > 0 {
			out = append(out, caddyLine{toks: cur, line: curLine})
		}
		cur = nil
	}
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '\n':
			line++
			i++
			// Site addresses continue over a trailing comma.
			if n := len(cur); n > 0 && strings.HasSuffix(cur[n-1], ",") && cur[0] != "\x00}" {
				continue
			}
			flush()
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		default:
			if len(cur) == 0 {
				curLine = line
			}
			var b strings.Builder
			quoted := false
			for i < len(text) && !strings.ContainsRune(" \t\r\n", rune(text[i])) {
				q := text[i]
				if q != '"' && q != '`' {
					b.WriteByte(q)
					i++
					continue
				}
				quoted = true
				start := line
				i++
				for {
					if i >= len(text) {
						return nil, fmt.Errorf("%s:%d: unterminated quote", file, start)
					}
					ch := text[i]
					if ch == '\\' && q == '"' && i+1 < len(text) && text[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					if ch == q {
						break
					}
					if ch == '\n' {
						line++
					}
					b.WriteByte(ch)
				}
			}
			tok := b.String()
			if !quoted && (tok == "{" || tok == "}") {
				tok = "\x00" + tok
			}
			if !quoted && strings.HasPrefix(tok, "<<") {
				return nil, fmt.Errorf("%s:%d: heredoc %s: not supported by racelab's rewriter", file, line, tok)
			}
			cur = append(cur, tok)
		}
	}
	flush()
	return out, nil
}

// block reads directives from lines[*i] to the "}" that closes the block
// opened on line opened (inBlock) or to the end.
func (p *CaddyfileParser) block(file string, lines []caddyLine, i *int, depth int, inBlock bool, opened int) ([]*Directive, error) {
	if depth > MaxNesting {
		return nil, fmt.Errorf("%s: blocks nested deeper than %d", file, MaxNesting)
	}
	var out []*Directive
	for *i < len(lines) {
		l := lines[*i]
		*i++
		toks := l.toks
		if toks[0] == "\x00}" {
			if !inBlock || len(toks) > 1 {
				return nil, fmt.Errorf("%s:%d: unexpected }", file, l.line)
			}
			return out, nil
		}
		open := toks[len(toks)-1] == "\x00{"
		if open {
			toks = toks[:len(toks)-1]
		}
		for _, t := range toks {
			if t == "\x00{" || t == "\x00}" {
				return nil, fmt.Errorf("%s:%d: a brace must end the line that opens a block or stand alone to close it", file, l.line)
			}
		}
		d := &Directive{File: file, Line: l.line, HasBlock: open}
		if len(toks) > 0 {
			d.Name, d.Args = toks[0], toks[1:]
		}
		if open {
			b, err := p.block(file, lines, i, depth+1, true, l.line)
			if err != nil {
				return nil, err
			}
			d.Block = b
		}
		out = append(out, d)
	}
	if inBlock {
		return nil, fmt.Errorf("%s:%d: block not closed (unexpected end of file, expecting })", file, opened)
	}
	return out, nil
}

// expand replaces import args and expands imports and snippet
// definitions in ds (read from a file in dir).
func (p *CaddyfileParser) expand(ds []*Directive, dir string, args []string, nesting int) ([]*Directive, error) {
	var out []*Directive
	for _, d := range ds {
		if err := substArgs(d, args); err != nil {
			return nil, err
		}
		switch {
		case strings.HasPrefix(d.Name, "&("):
			return nil, fmt.Errorf("%s: named route %s: not supported by racelab's rewriter", d.Pos(), d.Name)
		case len(d.Name) > 2 && d.Name[0] == '(' && strings.HasSuffix(d.Name, ")") && d.HasBlock && len(d.Args) == 0:
			p.snippets[d.Name[1:len(d.Name)-1]] = d
		case d.Name == "import":
			inc, err := p.importOf(d, dir, nesting)
			if err != nil {
				return nil, err
			}
			out = append(out, inc...)
		default:
			if d.HasBlock {
				b, err := p.expand(d.Block, dir, nil, nesting)
				if err != nil {
					return nil, err
				}
				d.Block = b
			}
			out = append(out, d)
		}
	}
	return out, nil
}

// substArgs replaces {args[N]} and {args.N} in d's tokens (not in its
// block: a snippet's body is substituted as a whole when imported).
func substArgs(d *Directive, args []string) error {
	toks := []*string{&d.Name}
	for i := range d.Args {
		toks = append(toks, &d.Args[i])
	}
	for _, t := range toks {
		if strings.Contains(*t, "{args[") && !argsRE.MatchString(*t) {
			return fmt.Errorf("%s: %s: only {args[N]} and {args.N} placeholders are supported by racelab's rewriter", d.Pos(), *t)
		}
		*t = argsRE.ReplaceAllStringFunc(*t, func(m string) string {
			sub := argsRE.FindStringSubmatch(m)
			k, err := strconv.Atoi(sub[1] + sub[2])
			if err == nil && k < len(args) {
				return args[k]
			}
			return ""
		})
	}
	return nil
}

// importOf expands one import directive: a snippet, or files.
func (p *CaddyfileParser) importOf(d *Directive, dir string, nesting int) ([]*Directive, error) {
	if len(d.Args) == 0 || d.HasBlock {
		return nil, fmt.Errorf("%s: import wants a snippet name or a file pattern, and no block", d.Pos())
	}
	if nesting > MaxDepth {
		return nil, fmt.Errorf("%s: imports nested deeper than %d", d.Pos(), MaxDepth)
	}
	name, args := d.Args[0], d.Args[1:]
	if s, ok := p.snippets[name]; ok {
		body := cloneDirectives(s.Block)
		var walk func(ds []*Directive) error
		walk = func(ds []*Directive) error {
			for _, c := range ds {
				if err := substArgs(c, args); err != nil {
					return err
				}
				if err := walk(c.Block); err != nil {
					return err
				}
			}
			return nil
		}
		if err := walk(body); err != nil {
			return nil, err
		}
		return p.expand(body, dir, nil, nesting+1)
	}
	path := name
	switch {
	case !filepath.IsAbs(path):
		path = filepath.Join(dir, path)
	case p.Root != "":
		path = filepath.Join(p.Root, path)
	}
	files := []string{path}
	if HasMeta(path) {
		m, err := p.FS.Glob(path)
		if err != nil {
			return nil, fmt.Errorf("%s: import %q: %w", d.Pos(), name, err)
		}
		files = m
	}
	var out []*Directive
	for _, f := range files {
		if p.FS.IsDir(f) {
			continue
		}
		ds, err := p.parseFile(f, args, nesting+1)
		if err != nil {
			return nil, fmt.Errorf("%s: import %q: %w", d.Pos(), name, err)
		}
		out = append(out, ds...)
	}
	return out, nil
}

func cloneDirectives(ds []*Directive) []*Directive {
	out := make([]*Directive, len(ds))
	for i, d := range ds {
		c := *d
		c.Args = append([]string(nil), d.Args...)
		c.Block = cloneDirectives(d.Block)
		out[i] = &c
	}
	return out
}

// CaddyQuote quotes a token when Caddy would not read it back as one.
func CaddyQuote(s string) string {
	if s != "" && s != "{" && s != "}" && !strings.ContainsAny(s, " \t\r\n\"`#") && !strings.HasPrefix(s, "<<") {
		return s
	}
	if strings.Contains(s, "#") && !strings.ContainsAny(s, " \t\r\n\"`") && !strings.HasPrefix(s, "#") && s != "" {
		return s // # starts a comment only at a token's start
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// EmitCaddyfile writes directives as one Caddyfile, a tab per level, a
// comment where the source file changes. origins[i] is the "file:line"
// line i+1 comes from ("" for comments and closing braces).
func EmitCaddyfile(ds []*Directive) (text string, origins []string) {
	e := &ngxEmitter{}
	caddyEmit(e, ds, 0)
	return e.b.String(), e.origins
}

func caddyEmit(e *ngxEmitter, ds []*Directive, depth int) {
	ind := strings.Repeat("\t", depth)
	for _, d := range ds {
		if d.File != e.file && d.File != "" {
			e.file = d.File
			e.line(ind+"# from "+d.File, "")
		}
		var parts []string
		if d.Name != "" {
			parts = append(parts, CaddyQuote(d.Name))
		}
		for _, a := range d.Args {
			parts = append(parts, CaddyQuote(a))
		}
		if d.HasBlock {
			parts = append(parts, "{")
		}
		origin := ""
		if d.File != "" {
			origin = d.Pos()
		}
		e.line(ind+strings.Join(parts, " "), origin)
		if d.HasBlock {
			caddyEmit(e, d.Block, depth+1)
			e.line(ind+"}", "")
		}
	}
}

// caddyText renders a directive as one line (a block as "{ ... }").
func caddyText(d *Directive) string {
	parts := []string{CaddyQuote(d.Name)}
	if d.Name == "" {
		parts = nil
	}
	for _, a := range d.Args {
		parts = append(parts, CaddyQuote(a))
	}
	if d.HasBlock {
		parts = append(parts, "{ ... }")
	}
	return strings.Join(parts, " ")
}
