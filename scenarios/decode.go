package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a scenario file, with where it is.
type Problem struct {
	File string
	Line int
	Col  int
	// Path is the field path, like "matrix.retry[1]".
	Path string
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", p.Line, p.Col)
	} else if p.File != "" {
		b.WriteString(" ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Problems is every problem found in a scenario; it is an error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// LoadFile reads, decodes and validates the scenario file at path.
func LoadFile(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return Load(data, path)
}

// Load decodes and validates a scenario. Decoding is strict: an unknown
// field, a bare number where a duration belongs, or a value of the wrong
// type is a Problem with line and column. Every problem is reported in
// one pass, decoding and validation alike; a semantic problem of a field
// that did not decode is left out (it would only repeat the first).
//
// file names the source in problems; unless it is empty or starts with
// "builtin:", it is the file's path too, and relative proxy.config and
// proxy.root paths are resolved against its directory (else against the
// working directory) and made absolute.
func Load(data []byte, file string) (*Scenario, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Problems{{File: file, Msg: "empty scenario"}}
		}
		return nil, Problems{yamlProblem(file, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, Problems{{File: file, Line: extra.Line, Col: extra.Column, Msg: "more than one YAML document: a scenario file holds one"}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	pos := map[string][2]int{}
	w := &walker{file: file, pos: pos, failed: map[string]bool{}}
	w.walk(root, reflect.TypeOf(Scenario{}), "")
	probs := w.probs

	var s Scenario
	if err := root.Decode(&s); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// Not a field's value: the document itself is unusable.
			return nil, sortProblems(append(probs, yamlProblem(file, err)))
		}
		walked := map[int]bool{}
		for _, p := range probs {
			walked[p.Line] = true
		}
		for _, e := range te.Errors {
			p := typeErrorProblem(file, e)
			if p.Path == "" {
				p.Path, p.Col = pathAtLine(pos, p.Line, p.Col)
			}
			if p.Path != "" {
				w.failed[p.Path] = true
			}
			if walked[p.Line] {
				continue // the walker already said it, with a column
			}
			probs = append(probs, p)
		}
	}
	s.src = source{file: file, pos: pos}
	for _, p := range s.src.locate(s.Validate()) {
		if !w.failedAt(p.Path) {
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 {
		return nil, sortProblems(probs)
	}
	if err := s.resolvePaths(dirOf(file)); err != nil {
		return nil, Problems{{File: file, Msg: err.Error()}}
	}
	return &s, nil
}

func sortProblems(probs Problems) Problems {
	sort.SliceStable(probs, func(i, j int) bool {
		if probs[i].Line != probs[j].Line {
			return probs[i].Line < probs[j].Line
		}
		return probs[i].Col < probs[j].Col
	})
	return probs
}

// locate gives problems found on the decoded scenario the file name and
// the line and column of their path (or of its nearest parent).
func (src source) locate(ps Problems) Problems {
	out := make(Problems, 0, len(ps))
	for _, p := range ps {
		if p.File == "" {
			p.File = src.file
		}
		if lc, ok := lookupPos(src.pos, p.Path); ok && p.Line == 0 {
			p.Line, p.Col = lc[0], lc[1]
		}
		out = append(out, p)
	}
	return out
}

// dirOf is the directory relative proxy paths of a scenario loaded from
// file are relative to: the file's, or "" (the working directory) for a
// built-in scenario.
func dirOf(file string) string {
	if file == "" || strings.HasPrefix(file, "builtin:") {
		return ""
	}
	return filepath.Dir(file)
}

// resolvePaths makes every proxy's config and root absolute, relative
// ones joined to dir.
func (s *Scenario) resolvePaths(dir string) error {
	abs := func(p *string) error {
		if *p == "" || filepath.IsAbs(*p) {
			return nil
		}
		a, err := filepath.Abs(filepath.Join(dir, *p))
		if err != nil {
			return fmt.Errorf("resolve %s: %w", *p, err)
		}
		*p = a
		return nil
	}
	ps := []*Proxy{&s.Base.Proxy}
	for i := range s.Matrix.Proxy {
		ps = append(ps, &s.Matrix.Proxy[i])
	}
	for _, p := range ps {
		if err := errors.Join(abs(&p.Config), abs(&p.Root)); err != nil {
			return err
		}
	}
	return nil
}

// lookupPos finds the position of path, or of its nearest parent.
func lookupPos(pos map[string][2]int, path string) ([2]int, bool) {
	for p := path; p != ""; {
		if lc, ok := pos[p]; ok {
			return lc, true
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return [2]int{}, false
}

// walker checks mapping keys against the yaml tags of a type,
// recursively, and records every value's position by field path, and the
// paths whose value has the wrong shape (failed).
type walker struct {
	file   string
	pos    map[string][2]int
	failed map[string]bool
	probs  Problems
}

func (w *walker) problem(n *yaml.Node, path, msg string, failed bool) {
	w.probs = append(w.probs, Problem{File: w.file, Line: n.Line, Col: n.Column, Path: path, Msg: msg})
	if failed {
		w.failed[path] = true
	}
}

// failedAt reports whether path, a parent of it or a child of it did not
// decode.
func (w *walker) failedAt(path string) bool {
	for f := range w.failed {
		if f == path || within(path, f) || within(f, path) {
			return true
		}
	}
	return false
}

// within reports whether path lies under parent.
func within(path, parent string) bool {
	return parent != "" && len(path) > len(parent) && strings.HasPrefix(path, parent) &&
		(path[len(parent)] == '.' || path[len(parent)] == '[')
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		w.pos[path] = [2]int{n.Line, n.Column}
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	isNull := n.Kind == yaml.ScalarNode && n.Tag == "!!null"
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeOf(Duration(0)) {
			return
		}
		if n.Kind != yaml.MappingNode {
			if !isNull {
				w.problem(n, path, "want a mapping of fields", true)
			}
			return
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := join(path, k.Value)
			if seen[k.Value] {
				w.problem(k, child, "field given twice", false)
			}
			seen[k.Value] = true
			f, ok := fields[k.Value]
			if !ok {
				w.problem(k, path, unknownField(k.Value, fields), false)
				continue
			}
			w.walk(v, f, child)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if !isNull {
				w.problem(n, path, "want a mapping", true)
			}
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			w.pos[join(path, k.Value)] = [2]int{k.Line, k.Column}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if !isNull {
				w.problem(n, path, "want a list, like [a, b]", true)
			}
			return
		}
		for i, c := range n.Content {
			w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = f.Type
	}
	return out
}

func unknownField(name string, fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	if best := closest(name, names); best != "" {
		return fmt.Sprintf("unknown field %q (did you mean %q?)", name, best)
	}
	return fmt.Sprintf("unknown field %q; known: %s", name, strings.Join(names, ", "))
}

// closest returns the known name nearest to name by edit distance, if near.
func closest(name string, names []string) string {
	best, bestD := "", 3
	for _, c := range names {
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

var (
	lineColRE = regexp.MustCompile(`^(\d+):(\d+): (.*)$`)
	lineRE    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

func typeErrorProblem(file, e string) Problem {
	if m := lineColRE.FindStringSubmatch(e); m != nil {
		l, _ := strconv.Atoi(m[1])
		c, _ := strconv.Atoi(m[2])
		return Problem{File: file, Line: l, Col: c, Msg: m[3]}
	}
	if m := lineRE.FindStringSubmatch(e); m != nil {
		l, _ := strconv.Atoi(m[1])
		return Problem{File: file, Line: l, Col: 1, Msg: readableTypeError(m[2])}
	}
	return Problem{File: file, Msg: e}
}

func yamlProblem(file string, err error) Problem {
	return typeErrorProblem(file, err.Error())
}

var unmarshalRE = regexp.MustCompile("^cannot unmarshal !!(\\w+) `?([^`]*)`? into (.+)$")

// readableTypeError turns yaml's "cannot unmarshal !!str `many` into int"
// into "got "many", want a whole number".
func readableTypeError(msg string) string {
	m := unmarshalRE.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	want := map[string]string{
		"int": "a whole number", "int64": "a whole number", "float64": "a number",
		"string": "a string", "bool": "true or false",
	}[m[3]]
	if want == "" {
		want = "a value of type " + strings.TrimPrefix(m[3], "scenarios.")
	}
	got := m[2]
	if got == "" {
		got = "a " + map[string]string{"seq": "list", "map": "mapping"}[m[1]]
	} else {
		got = strconv.Quote(got)
	}
	return fmt.Sprintf("got %s, want %s", got, want)
}

// pathAtLine finds the deepest field path whose value sits on line.
func pathAtLine(pos map[string][2]int, line, col int) (string, int) {
	best, bestCol := "", col
	for p, lc := range pos {
		if lc[0] == line && (best == "" || lc[1] > bestCol || (lc[1] == bestCol && len(p) > len(best))) {
			best, bestCol = p, lc[1]
		}
	}
	return best, bestCol
}
