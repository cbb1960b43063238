package proxyconf

import (
	"fmt"
	"path/filepath"
	"strings"
)

// HAProxySectionKinds are the keywords that open a section.
var HAProxySectionKinds = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"peers": true, "resolvers": true, "userlist": true, "mailers": true, "program": true,
	"http-errors": true, "ring": true, "cache": true, "log-forward": true, "crt-store": true,
	"traces": true, "acme": true,
}

// Section is one HAProxy section: its keyword, name, the named defaults
// it inherits from ("from NAME"), and its lines.
type Section struct {
	Kind, Name, From string
	// Header is the section's own line.
	Header Line
	Lines  []Line
}

// Pos is the section line's "file:line".
func (s *Section) Pos() string { return s.Header.Pos() }

// Line is one configuration line split into words.
type Line struct {
	Args []string
	// Raw is the line as written, comments included.
	Raw  string
	File string
	Line int
}

// Pos is "file:line".
func (l Line) Pos() string { return fmt.Sprintf("%s:%d", l.File, l.Line) }

// HAProxyConfig is a parsed configuration: the sections in load order.
// Lines before the first section (comments, blank) are dropped; blank and
// comment lines inside a section are kept as lines without words, and
// conditional-block markers (.if, .endif) as lines whose first word starts
// with a dot.
type HAProxyConfig struct {
	Files    []string
	Sections []*Section
}

// ParseHAProxy reads a configuration: a file, or a directory whose *.cfg
// files load in name order (as haproxy -f DIR does). read nil reads
// through fsys (nil: the host's).
func ParseHAProxy(fsys FS, read func(string) ([]byte, error), path string) (*HAProxyConfig, error) {
	if fsys == nil {
		fsys = OSFS{}
	}
	if read == nil {
		read = fsys.ReadFile
	}
	files := []string{path}
	if path != "-" && fsys.IsDir(path) {
		m, err := fsys.Glob(filepath.Join(path, "*.cfg"))
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("%s: no *.cfg files", path)
		}
		if len(m) > MaxFiles {
			return nil, fmt.Errorf("%s: more than %d files", path, MaxFiles)
		}
		files = m
	}
	c := &HAProxyConfig{}
	total := 0
	for _, f := range files {
		data, err := read(f)
		if err != nil {
			return nil, err
		}
		if total += len(data); total > MaxTotalSize {
			return nil, fmt.Errorf("%s: files exceed %d bytes", path, MaxTotalSize)
		}
		secs, err := ParseHAProxySections(Display(f), data)
		if err != nil {
			return nil, err
		}
		c.Files = append(c.Files, Display(f))
		c.Sections = append(c.Sections, secs...)
	}
	return c, nil
}

// ParseHAProxySections splits one file into sections of lines.
func ParseHAProxySections(file string, data []byte) ([]*Section, error) {
	var secs []*Section
	var cur *Section
	for i, raw := range strings.Split(string(data), "\n") {
		raw = strings.TrimSuffix(raw, "\r")
		l := Line{Raw: raw, File: file, Line: i + 1}
		args, err := HAProxyTokens(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.Pos(), err)
		}
		l.Args = args
		if len(args) > 0 && HAProxySectionKinds[args[0]] {
			cur = &Section{Kind: args[0], Header: l}
			if len(args) > 1 {
				cur.Name = args[1]
			}
			for j := 2; j+1 < len(args); j++ {
				if args[j] == "from" {
					cur.From = args[j+1]
				}
			}
			secs = append(secs, cur)
			continue
		}
		if cur == nil {
			if len(args) == 0 || strings.HasPrefix(args[0], ".") {
				continue
			}
			return nil, fmt.Errorf("%s: %q outside any section", l.Pos(), args[0])
		}
		cur.Lines = append(cur.Lines, l)
	}
	return secs, nil
}

// Keyword is the line's keyword: its first word, after "no" or "default"
// when the line starts with one; "" for blank and comment lines.
func (l Line) Keyword() string {
	if len(l.Args) == 0 {
		return ""
	}
	if (l.Args[0] == "no" || l.Args[0] == "default") && len(l.Args) > 1 {
		return l.Args[1]
	}
	return l.Args[0]
}

// HAProxyTokens splits one line into words: spaces separate, # starts a
// comment, quotes group, a backslash escapes the next character.
func HAProxyTokens(line string) ([]string, error) {
	var out []string
	var b strings.Builder
	inWord := false
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(line) {
				i++
				b.WriteByte(line[i])
			} else {
				b.WriteByte(c)
			}
		case c == '\\' && i+1 < len(line):
			i++
			b.WriteByte(line[i])
			inWord = true
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == '#':
			i = len(line)
		case c == ' ' || c == '\t' || c == '\r':
			if inWord {
				out = append(out, b.String())
				b.Reset()
				inWord = false
			}
		default:
			b.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inWord {
		out = append(out, b.String())
	}
	return out, nil
}

// HAProxyQuote renders one word so HAProxy reads it back unchanged.
func HAProxyQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n#\"'\\$") {
		return s
	}
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			b.WriteString(`'\''`)
			continue
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
	return b.String()
}

// HAProxyJoin renders words as one line.
func HAProxyJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = HAProxyQuote(a)
	}
	return strings.Join(q, " ")
}
