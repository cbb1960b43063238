package proxyconf

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// ApacheParser reads an Apache httpd configuration the way httpd does:
// one directive per line (a trailing backslash continues it), # comments
// on their own lines, words and quoted strings, <Section args> ...
// </Section> blocks, Define and ${VAR}, and Include / IncludeOptional
// expanded in place (relative paths against ServerRoot, which starts as
// the main file's directory; absolute ones under Root; globs and
// directories in sorted order). Sections are directives with a block
// whose Name is the section's name without brackets.
type ApacheParser struct {
	FS   FS
	Root string
	// ServerRoot is the last ServerRoot read (the main file's directory
	// until one is).
	ServerRoot string
	// LoadsModules says a LoadModule was read: a full configuration, not
	// a fragment.
	LoadsModules bool
	// Notes say what was read loosely.
	Notes []string

	defines map[string]string
	stack   []string
	files   int
	total   int
}

var apacheVarRE = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Parse reads the main file and everything it includes.
func (p *ApacheParser) Parse(path string) ([]*Directive, error) {
	if p.FS == nil {
		p.FS = OSFS{}
	}
	p.defines = map[string]string{}
	p.ServerRoot = filepath.Dir(path)
	return p.parseFile(path)
}

func (p *ApacheParser) parseFile(path string) ([]*Directive, error) {
	clean := filepath.Clean(path)
	for _, f := range p.stack {
		if f == clean {
			return nil, fmt.Errorf("include cycle: %s -> %s", strings.Join(p.stack, " -> "), clean)
		}
	}
	if len(p.stack) > MaxDepth {
		return nil, fmt.Errorf("%s: includes nested deeper than %d", clean, MaxDepth)
	}
	if p.files++; p.files > MaxFiles {
		return nil, fmt.Errorf("%s: more than %d files included", clean, MaxFiles)
	}
	data, err := p.FS.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if p.total += len(data); p.total > MaxTotalSize {
		return nil, fmt.Errorf("%s: included files exceed %d bytes", clean, MaxTotalSize)
	}
	p.stack = append(p.stack, clean)
	defer func() { p.stack = p.stack[:len(p.stack)-1] }()
	file := Display(path)
	lines := strings.Split(string(data), "\n")
	i := 0
	return p.block(file, lines, &i, "", 0, 0)
}

// block reads directives up to the </section> that closes section (or
// the end of the file when section is "").
func (p *ApacheParser) block(file string, lines []string, i *int, section string, openLine, depth int) ([]*Directive, error) {
	if depth > MaxNesting {
		return nil, fmt.Errorf("%s:%d: sections nested deeper than %d", file, *i, MaxNesting)
	}
	var out []*Directive
	for *i < len(lines) {
		lineNo := *i + 1
		text := strings.TrimSpace(strings.TrimRight(lines[*i], "\r"))
		*i++
		for strings.HasSuffix(text, `\`) && *i < len(lines) {
			text = strings.TrimSuffix(text, `\`) + " " + strings.TrimSpace(strings.TrimRight(lines[*i], "\r"))
			*i++
		}
		if text == "" || text[0] == '#' {
			continue
		}
		if strings.HasPrefix(text, "</") {
			name := strings.TrimSpace(strings.TrimSuffix(text[2:], ">"))
			if section == "" || !strings.EqualFold(name, section) {
				return nil, fmt.Errorf("%s:%d: %s without matching <%s> section", file, lineNo, text, name)
			}
			return out, nil
		}
		open := false
		if text[0] == '<' {
			if !strings.HasSuffix(text, ">") {
				return nil, fmt.Errorf("%s:%d: %s: section directive missing closing '>'", file, lineNo, text)
			}
			text, open = strings.TrimSpace(text[1:len(text)-1]), true
		}
		toks, err := apacheWords(p.subst(text))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, lineNo, err)
		}
		if len(toks) == 0 {
			return nil, fmt.Errorf("%s:%d: empty section", file, lineNo)
		}
		d := &Directive{Name: toks[0], Args: toks[1:], File: file, Line: lineNo, HasBlock: open}
		if open {
			b, err := p.block(file, lines, i, d.Name, lineNo, depth+1)
			if err != nil {
				return nil, err
			}
			d.Block = b
			out = append(out, d)
			continue
		}
		switch strings.ToLower(d.Name) {
		case "define":
			if len(d.Args) > 0 {
				p.defines[d.Args[0]] = d.Arg(1)
			}
		case "serverroot":
			if len(d.Args) == 1 {
				p.ServerRoot = d.Args[0]
				if p.Root != "" && filepath.IsAbs(d.Args[0]) {
					p.ServerRoot = filepath.Join(p.Root, d.Args[0])
				}
			}
		case "loadmodule":
			p.LoadsModules = true
		case "include", "includeoptional":
			inc, err := p.include(d)
			if err != nil {
				return nil, err
			}
			out = append(out, inc...)
			continue
		}
		out = append(out, d)
	}
	if section != "" {
		return nil, fmt.Errorf("%s:%d: <%s> section not closed", file, openLine, section)
	}
	return out, nil
}

// subst replaces ${VAR} with the values Define gave; others stay.
func (p *ApacheParser) subst(s string) string {
	return apacheVarRE.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := p.defines[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// include expands Include and IncludeOptional.
func (p *ApacheParser) include(d *Directive) ([]*Directive, error) {
	if len(d.Args) != 1 {
		return nil, fmt.Errorf("%s: %s takes one argument", d.Pos(), d.Name)
	}
	optional := strings.EqualFold(d.Name, "includeoptional")
	path := d.Args[0]
	switch {
	case !filepath.IsAbs(path):
		path = filepath.Join(p.ServerRoot, path)
	case p.Root != "":
		path = filepath.Join(p.Root, path)
	}
	files := []string{path}
	if HasMeta(path) || p.FS.IsDir(path) {
		pattern := path
		if !HasMeta(path) {
			pattern = filepath.Join(path, "*")
		}
		m, err := p.FS.Glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("%s: %s %q: %w", d.Pos(), d.Name, d.Args[0], err)
		}
		files = m
	}
	var out []*Directive
	for _, f := range files {
		if p.FS.IsDir(f) {
			continue
		}
		ds, err := p.parseFile(f)
		if err != nil {
			if optional && IsNotExist(err) {
				p.Notes = append(p.Notes, fmt.Sprintf("%s: skipped missing %s", d.Pos(), d.Args[0]))
				continue
			}
			return nil, fmt.Errorf("%s: %s %q: %w", d.Pos(), d.Name, d.Args[0], err)
		}
		out = append(out, ds...)
	}
	return out, nil
}

// apacheWords splits a line into words the way httpd's ap_getword_conf
// does: whitespace separates, "..." and '...' group (a backslash escapes
// the quote inside).
func apacheWords(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		c := s[i]
		if c == ' ' || c == '\t' {
			i++
			continue
		}
		var b strings.Builder
		if c == '"' || c == '\'' {
			i++
			closed := false
			for i < len(s) {
				if s[i] == '\\' && i+1 < len(s) && s[i+1] == c {
					b.WriteByte(c)
					i += 2
					continue
				}
				if s[i] == c {
					i++
					closed = true
					break
				}
				b.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quote")
			}
			out = append(out, b.String())
			continue
		}
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			b.WriteByte(s[i])
			i++
		}
		out = append(out, b.String())
	}
	return out, nil
}

// ApacheQuote quotes a word when httpd would not read it back as one.
func ApacheQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// EmitApache writes directives as one configuration file, four spaces
// per section level, a comment where the source file changes. origins[i]
// is the "file:line" line i+1 comes from.
func EmitApache(ds []*Directive) (text string, origins []string) {
	e := &ngxEmitter{}
	apacheEmit(e, ds, 0)
	return e.b.String(), e.origins
}

func apacheEmit(e *ngxEmitter, ds []*Directive, depth int) {
	ind := strings.Repeat("    ", depth)
	for _, d := range ds {
		if d.File != e.file && d.File != "" {
			e.file = d.File
			e.line(ind+"# from "+d.File, "")
		}
		origin := ""
		if d.File != "" {
			origin = d.Pos()
		}
		s := apacheText(d, false)
		if !d.HasBlock {
			e.line(ind+s, origin)
			continue
		}
		e.line(ind+s, origin)
		apacheEmit(e, d.Block, depth+1)
		e.line(ind+"</"+d.Name+">", "")
	}
}

// apacheText renders a directive as one line; a section as "<Name args>"
// (with " ... </Name>" when short).
func apacheText(d *Directive, short bool) string {
	parts := []string{d.Name}
	for _, a := range d.Args {
		parts = append(parts, ApacheQuote(a))
	}
	s := strings.Join(parts, " ")
	if d.HasBlock {
		s = "<" + s + ">"
		if short {
			s += " ... </" + d.Name + ">"
		}
	}
	return s
}
