package proxyconf

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// vtok is one VCL token. Comments are not tokens: a rewritten VCL holds
// none of the user's comments, which may name hosts.
type vtok struct {
	kind byte // 'w' word (name, number, field), 's' string, 'p' operator
	text string
	file string
	line int
	// space says whitespace or a comment came before it on its line;
	// lead is the whitespace before it when it starts its line.
	space bool
	first bool
	lead  string
}

func (t vtok) pos() string { return fmt.Sprintf("%s:%d", t.file, t.line) }

// vclOps are VCL's operators of two characters.
var vclOps = []string{"==", "!=", "!~", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=", "++", "--", "<<", ">>"}

func isVCLIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// lexVCL splits one VCL file into tokens. Inline C is refused: it can do
// anything, contacting hosts included.
func lexVCL(file string, src []byte) ([]vtok, error) {
	s := string(src)
	var out []vtok
	line := 1
	lineStart := 0
	space := false
	for i := 0; i < len(s); {
		c := s[i]
		at := fmt.Sprintf("%s:%d", file, line)
		switch {
		case c == '\n':
			line++
			i++
			lineStart = i
			space = false
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\f':
			i++
			space = true
			continue
		case c == '#' || strings.HasPrefix(s[i:], "//"):
			for i < len(s) && s[i] != '\n' {
				i++
			}
			space = true
			continue
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("%s: unterminated /* comment", at)
			}
			line += strings.Count(s[i:i+2+end], "\n")
			i += 2 + end + 2
			if j := strings.LastIndexByte(s[:i], '\n'); j >= lineStart {
				lineStart = j + 1
			}
			space = true
			continue
		case strings.HasPrefix(s[i:], "C{"):
			return nil, fmt.Errorf("%s: inline C (C{ ... }C): racelab does not run C code from a configuration", at)
		}
		t := vtok{file: file, line: line, space: space, first: strings.TrimLeft(s[lineStart:i], " \t\r\f") == ""}
		if t.first {
			t.lead = s[lineStart:i]
		}
		space = false
		start := i
		switch {
		case strings.HasPrefix(s[i:], `"""`):
			end := strings.Index(s[i+3:], `"""`)
			if end < 0 {
				return nil, fmt.Errorf("%s: unterminated \"\"\" string", at)
			}
			i += 3 + end + 3
			t.kind = 's'
		case strings.HasPrefix(s[i:], `{"`):
			end := strings.Index(s[i+2:], `"}`)
			if end < 0 {
				return nil, fmt.Errorf("%s: unterminated {\" string", at)
			}
			i += 2 + end + 2
			t.kind = 's'
		case c == '"':
			end := strings.IndexAny(s[i+1:], "\"\n")
			if end < 0 || s[i+1+end] != '"' {
				return nil, fmt.Errorf("%s: unterminated string", at)
			}
			i += 1 + end + 1
			t.kind = 's'
		case isVCLIdent(c) && c != '-' && c != '.', c == '.' && i+1 < len(s) && isVCLIdent(s[i+1]) && s[i+1] != '.':
			i++
			for i < len(s) && isVCLIdent(s[i]) {
				i++
			}
			t.kind = 'w'
		default:
			t.kind = 'p'
			i++
			for _, op := range vclOps {
				if strings.HasPrefix(s[start:], op) {
					i = start + len(op)
					break
				}
			}
		}
		t.text = s[start:i]
		line += strings.Count(t.text, "\n")
		if j := strings.LastIndexByte(t.text, '\n'); j >= 0 {
			lineStart = start + j + 1
		}
		out = append(out, t)
	}
	return out, nil
}

// vdecl is one top-level VCL declaration.
type vdecl struct {
	kind string // vcl, import, include, backend, probe, acl, sub
	name string
	toks []vtok // the whole declaration
}

// splitVCL cuts a file's tokens into top-level declarations.
func splitVCL(toks []vtok) ([]vdecl, error) {
	var out []vdecl
	for i := 0; i < len(toks); {
		t := toks[i]
		if t.kind != 'w' {
			return nil, fmt.Errorf("%s: unexpected %q at the top level", t.pos(), t.text)
		}
		d := vdecl{kind: t.text}
		j := i + 1
		switch t.text {
		case "vcl", "import", "include":
			for j < len(toks) && toks[j].text != ";" {
				j++
			}
			if j == len(toks) {
				return nil, fmt.Errorf("%s: %s without ;", t.pos(), t.text)
			}
			j++
		case "backend", "probe", "acl", "sub":
			if j >= len(toks) || toks[j].kind != 'w' {
				return nil, fmt.Errorf("%s: %s without a name", t.pos(), t.text)
			}
			d.name = toks[j].text
			for j < len(toks) && toks[j].text != "{" && toks[j].text != ";" {
				j++
			}
			if j == len(toks) {
				return nil, fmt.Errorf("%s: %s %s without a body", t.pos(), t.text, d.name)
			}
			if toks[j].text == ";" { // backend NAME none;
				j++
				break
			}
			depth := 0
			for ; j < len(toks); j++ {
				switch toks[j].text {
				case "{":
					depth++
				case "}":
					depth--
				}
				if depth == 0 {
					break
				}
			}
			if j == len(toks) {
				return nil, fmt.Errorf("%s: %s %s: unbalanced braces", t.pos(), t.text, d.name)
			}
			j++
			if j < len(toks) && toks[j].text == ";" {
				j++
			}
		default:
			return nil, fmt.Errorf("%s: unexpected %q at the top level (want vcl, import, include, backend, probe, acl or sub)", t.pos(), t.text)
		}
		d.toks = toks[i:j]
		out = append(out, d)
		i = j
	}
	return out, nil
}

// unquoteVCL returns a string token's content.
func unquoteVCL(s string) string {
	switch {
	case strings.HasPrefix(s, `"""`) && len(s) >= 6:
		return s[3 : len(s)-3]
	case strings.HasPrefix(s, `{"`) && len(s) >= 4:
		return s[2 : len(s)-2]
	case strings.HasPrefix(s, `"`) && len(s) >= 2:
		return s[1 : len(s)-1]
	}
	return s
}

// vclParser reads a VCL file and its includes into declarations.
type vclParser struct {
	fs    FS
	root  string
	files int
	total int
	notes []string
}

func (p *vclParser) display(file string) string {
	if p.root != "" {
		if rel, ok := strings.CutPrefix(file, filepath.Clean(p.root)+"/"); ok {
			return "/" + rel
		}
	}
	return Display(file)
}

// parse reads file, inlining includes, to depth.
func (p *vclParser) parse(file string, src []byte, depth int) ([]vdecl, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%s: includes nested deeper than %d", p.display(file), MaxDepth)
	}
	p.files++
	p.total += len(src)
	if p.files > MaxFiles || p.total > MaxTotalSize {
		return nil, fmt.Errorf("%s: more than %d files or %d bytes", p.display(file), MaxFiles, MaxTotalSize)
	}
	toks, err := lexVCL(p.display(file), src)
	if err != nil {
		return nil, err
	}
	decls, err := splitVCL(toks)
	if err != nil {
		return nil, err
	}
	var out []vdecl
	for _, d := range decls {
		if d.kind != "include" {
			out = append(out, d)
			continue
		}
		a := d.toks[1:]
		if len(a) != 2 || a[0].kind != 's' {
			return nil, fmt.Errorf("%s: include wants one quoted file name (include +glob is not read)", d.toks[0].pos())
		}
		name := unquoteVCL(a[0].text)
		path, data, err := p.find(file, name)
		if err != nil {
			return nil, fmt.Errorf("%s: include %q: %w", d.toks[0].pos(), name, err)
		}
		// Keep the include as a marker: the rewriter lists it as inlined.
		out = append(out, d)
		inc, err := p.parse(path, data, depth+1)
		if err != nil {
			return nil, err
		}
		for _, x := range inc {
			if x.kind == "vcl" { // an included file may declare its version too
				continue
			}
			out = append(out, x)
		}
	}
	return out, nil
}

// find locates an included file as varnishd does: an absolute path (in
// Root when set), else beside the including file, then in Varnish's
// configuration directory /etc/varnish.
func (p *vclParser) find(from, name string) (string, []byte, error) {
	var tries []string
	if filepath.IsAbs(name) {
		tries = []string{filepath.Join(p.root, name)}
	} else {
		tries = []string{filepath.Join(filepath.Dir(from), name), filepath.Join(p.root, "/etc/varnish", name)}
	}
	for _, t := range tries {
		if data, err := p.fs.ReadFile(t); err == nil {
			return t, data, nil
		} else if !IsNotExist(err) {
			return "", nil, err
		}
	}
	var shown []string
	for _, t := range tries {
		shown = append(shown, p.display(t))
	}
	return "", nil, fmt.Errorf("not found (looked for %s)", strings.Join(shown, ", "))
}

// VarnishParam is one varnishd -p parameter of a command line.
type VarnishParam struct {
	Name, Value string
	Source      string // file:line
}

var (
	varnishAnyParamRE = regexp.MustCompile(`(?:^|[\s"'=])-p\s*([A-Za-z_][A-Za-z0-9_]*)=([^\s"']*)`)
	varnishVCLFlagRE  = regexp.MustCompile(`(?:^|[\s"'=])-f\s*([^\s"']+)`)
	varnishBFlagRE    = regexp.MustCompile(`(?:^|[\s"'=])-b\s*[^\s"']+`)
)

// ParseVarnishCommand reads a file that starts varnishd (a systemd unit,
// /etc/default/varnish, a shell script), the way the guard reads
// backend_idle_timeout: every "-p name=value" on a line that is not a
// comment, and the VCL file of "-f". A parameter set twice is ambiguous
// and refused, as the guard does.
func ParseVarnishCommand(src string, data []byte) (vcl, vclSource string, params []VarnishParam, err error) {
	seen := map[string]string{}
	for n, line := range strings.Split(string(data), "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "#") || strings.HasPrefix(trim, "//") {
			continue
		}
		at := fmt.Sprintf("%s:%d", src, n+1)
		if varnishBFlagRE.MatchString(line) {
			return "", "", nil, fmt.Errorf("%s: varnishd -b (a backend without VCL): racelab runs a VCL file; give -f", at)
		}
		for _, m := range varnishAnyParamRE.FindAllStringSubmatch(line, -1) {
			if prev, ok := seen[m[1]]; ok {
				return "", "", nil, fmt.Errorf("%s: -p %s is set again (first at %s); ambiguous: keep one varnishd command line per file", at, m[1], prev)
			}
			seen[m[1]] = at
			params = append(params, VarnishParam{Name: m[1], Value: m[2], Source: at})
		}
		for _, m := range varnishVCLFlagRE.FindAllStringSubmatch(line, -1) {
			if vcl != "" {
				return "", "", nil, fmt.Errorf("%s: -f is given again (first at %s); ambiguous: keep one varnishd command line per file", at, vclSource)
			}
			vcl, vclSource = m[1], at
		}
	}
	if vcl == "" {
		return "", "", nil, fmt.Errorf("%s: neither a VCL file nor a varnishd command line with -f", src)
	}
	return vcl, vclSource, params, nil
}

// isVCL says whether data reads as VCL: its first token is "vcl".
func isVCL(data []byte) bool {
	toks, err := lexVCL("", data)
	if err != nil {
		return strings.HasPrefix(strings.TrimSpace(string(data)), "vcl ")
	}
	return len(toks) > 0 && toks[0].text == "vcl"
}
