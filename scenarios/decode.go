package scenarios

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
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
// type is a Problem with line and column; every problem is reported at
// once, decoding and validation alike.
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
	var probs Problems
	walk(root, reflect.TypeOf(Scenario{}), "", file, pos, &probs)

	var s Scenario
	if err := root.Decode(&s); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			walked := map[int]bool{}
			for _, p := range probs {
				walked[p.Line] = true
			}
			for _, e := range te.Errors {
				p := typeErrorProblem(file, e)
				if walked[p.Line] {
					continue // the walker already said it, with a column
				}
				if p.Path == "" {
					p.Path, p.Col = pathAtLine(pos, p.Line, p.Col)
				}
				probs = append(probs, p)
			}
		} else {
			probs = append(probs, yamlProblem(file, err))
		}
	}
	if len(probs) == 0 {
		for _, p := range s.Validate() {
			p.File = file
			if lc, ok := lookupPos(pos, p.Path); ok {
				p.Line, p.Col = lc[0], lc[1]
			}
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool {
			if probs[i].Line != probs[j].Line {
				return probs[i].Line < probs[j].Line
			}
			return probs[i].Col < probs[j].Col
		})
		return nil, probs
	}
	return &s, nil
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

// walk checks mapping keys against the yaml tags of t, recursively, and
// records every value's position by field path.
func walk(n *yaml.Node, t reflect.Type, path, file string, pos map[string][2]int, probs *Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if path != "" {
		pos[path] = [2]int{n.Line, n.Column}
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeOf(Duration(0)) {
			return
		}
		if n.Kind != yaml.MappingNode {
			if !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
				*probs = append(*probs, Problem{File: file, Line: n.Line, Col: n.Column, Path: path, Msg: "want a mapping of fields"})
			}
			return
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := join(path, k.Value)
			if seen[k.Value] {
				*probs = append(*probs, Problem{File: file, Line: k.Line, Col: k.Column, Path: child, Msg: "field given twice"})
			}
			seen[k.Value] = true
			f, ok := fields[k.Value]
			if !ok {
				*probs = append(*probs, Problem{File: file, Line: k.Line, Col: k.Column, Path: path, Msg: unknownField(k.Value, fields)})
				continue
			}
			walk(v, f, child, file, pos, probs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			if !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
				*probs = append(*probs, Problem{File: file, Line: n.Line, Col: n.Column, Path: path, Msg: "want a mapping"})
			}
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			pos[join(path, k.Value)] = [2]int{k.Line, k.Column}
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			if !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
				*probs = append(*probs, Problem{File: file, Line: n.Line, Col: n.Column, Path: path, Msg: "want a list, like [a, b]"})
			}
			return
		}
		for i, c := range n.Content {
			walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), file, pos, probs)
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
