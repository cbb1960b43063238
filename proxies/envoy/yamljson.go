package envoy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Converting YAML to JSON the way Envoy does.
//
// Envoy loads a YAML bootstrap by turning it into JSON and parsing that
// with protobuf's JSON parser. Its conversion decides scalar types from
// the text, not from the schema: a quoted or block scalar is a string; any
// other one
// is null, a bool (y, yes, true, on and their negatives, in lower, upper
// or title case), an integer (decimal, 0x hex or 0o octal; outside the
// int32 range it is written as a decimal string), or else a string, floats
// included — protobuf's JSON parser reads numbers from strings. Explicit
// tags change nothing ("!!str 5" is a number to Envoy too); the one
// difference is the bare "!" tag, which Envoy reads as "string" and the
// YAML parser here drops. Keys tagged !ignore are dropped, which lets a
// bootstrap hold YAML anchors.
//
// The converter writes every member and element on a line of its own and
// remembers where in the YAML each line came from, so a JSON parse error
// can name a YAML line and a field path.

// Pos is a 1-based line and column in the bootstrap's text.
type Pos struct {
	Line, Column int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return ""
	}
	return fmt.Sprintf("line %d:%d", p.Line, p.Column)
}

// jsonDoc is a converted bootstrap with its way back to the YAML.
type jsonDoc struct {
	data []byte
	// lines[i] is where JSON line i+1 came from.
	lines []lineOrigin
	// at maps a JSON path ("static_resources.clusters[0].name") to the
	// YAML position of that member or element.
	at map[string]Pos
}

type lineOrigin struct {
	pos  Pos
	path string
}

// origin returns the YAML position and path of JSON line n (1-based).
func (d *jsonDoc) origin(n int) (Pos, string) {
	if n < 1 || n > len(d.lines) {
		return Pos{}, ""
	}
	o := d.lines[n-1]
	return o.pos, o.path
}

// lookup returns the position of path or of its nearest ancestor that the
// YAML spells out (a field given in camelCase is found by its parent).
func (d *jsonDoc) lookup(path string) Pos {
	for p := path; p != ""; p = parentPath(p) {
		if pos, ok := d.at[p]; ok {
			return pos
		}
	}
	if len(d.lines) > 0 {
		return d.lines[0].pos
	}
	return Pos{}
}

// parentPath drops the last ".field" or "[index]" of a JSON path.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		if i := strings.LastIndexByte(p, '['); i >= 0 {
			return p[:i]
		}
	}
	if i := strings.LastIndexByte(p, '.'); i >= 0 {
		return p[:i]
	}
	return ""
}

// maxAliasDepth bounds alias expansion (a "billion laughs" document).
const maxAliasDepth = 32

// maxJSONBytes and maxNodes bound the converted document, whatever its
// aliases expand to. A real bootstrap has a few thousand nodes.
const (
	maxJSONBytes = 16 << 20
	maxNodes     = 100_000
)

func yamlToJSON(data []byte) (*jsonDoc, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("empty document")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("line %d: a bootstrap is one YAML document, found another", extra.Line)
	} else if !errors.Is(err, io.EOF) {
		return nil, err
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: a bootstrap is a mapping of fields", root.Line)
	}
	e := &emitter{at: make(map[string]Pos)}
	e.lines = append(e.lines, lineOrigin{pos: nodePos(root)})
	if err := e.emit(root, "", 0); err != nil {
		return nil, err
	}
	return &jsonDoc{data: e.buf.Bytes(), lines: e.lines, at: e.at}, nil
}

type emitter struct {
	nodes int
	buf   bytes.Buffer
	lines []lineOrigin
	at    map[string]Pos
}

func nodePos(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

func (e *emitter) newline(p Pos, path string) {
	e.buf.WriteByte('\n')
	e.lines = append(e.lines, lineOrigin{pos: p, path: path})
}

func (e *emitter) emit(n *yaml.Node, path string, depth int) error {
	e.nodes++
	if e.buf.Len() > maxJSONBytes || e.nodes > maxNodes {
		return fmt.Errorf("document too large once aliases are expanded")
	}
	switch n.Kind {
	case yaml.AliasNode:
		if depth >= maxAliasDepth || n.Alias == nil {
			return fmt.Errorf("line %d: alias nested too deep", n.Line)
		}
		return e.emit(n.Alias, path, depth+1)
	case yaml.MappingNode:
		return e.mapping(n, path, depth)
	case yaml.SequenceNode:
		e.buf.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				e.buf.WriteByte(',')
			}
			child := fmt.Sprintf("%s[%d]", path, i)
			e.at[child] = nodePos(item)
			e.newline(nodePos(item), child)
			if err := e.emit(item, child, depth); err != nil {
				return err
			}
		}
		if len(n.Content) > 0 {
			e.newline(nodePos(n), path)
		}
		e.buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		e.buf.WriteString(scalarJSON(n))
		return nil
	default:
		return fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
}

func (e *emitter) mapping(n *yaml.Node, path string, depth int) error {
	e.buf.WriteByte('{')
	seen := make(map[string]Pos)
	members := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Tag == "!ignore" {
			continue
		}
		key := k
		if key.Kind == yaml.AliasNode && key.Alias != nil {
			key = key.Alias
		}
		if key.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d:%d: a mapping key must be a scalar", k.Line, k.Column)
		}
		if first, dup := seen[key.Value]; dup {
			return fmt.Errorf("line %d:%d: duplicate key %q (first at %s)", k.Line, k.Column, key.Value, first)
		}
		seen[key.Value] = nodePos(k)
		if members > 0 {
			e.buf.WriteByte(',')
		}
		members++
		child := key.Value
		if path != "" {
			child = path + "." + key.Value
		}
		e.at[child] = nodePos(k)
		e.newline(nodePos(k), child)
		e.buf.WriteString(jsonString(key.Value))
		e.buf.WriteString(": ")
		if err := e.emit(v, child, depth); err != nil {
			return err
		}
	}
	if members > 0 {
		e.newline(nodePos(n), path)
	}
	e.buf.WriteByte('}')
	return nil
}

func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		// Only invalid UTF-8 gets here; json.Marshal already replaced it.
		return `""`
	}
	return string(b)
}

// scalarJSON types a scalar the way Envoy's YAML loader does.
func scalarJSON(n *yaml.Node) string {
	const quoted = yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle
	if n.Style&quoted != 0 {
		return jsonString(n.Value)
	}
	s := n.Value
	switch s {
	case "", "~", "null", "Null", "NULL":
		return "null"
	}
	if b, ok := yamlBool(s); ok {
		return strconv.FormatBool(b)
	}
	if i, ok := yamlInt(s); ok {
		if i >= -1<<31 && i <= 1<<31-1 {
			return strconv.FormatInt(i, 10)
		}
		return jsonString(strconv.FormatInt(i, 10))
	}
	return jsonString(s)
}

// yamlBool accepts y/yes/true/on and n/no/false/off in lower, upper or
// title case.
func yamlBool(s string) (bool, bool) {
	lower := strings.ToLower(s)
	if s != lower && s != strings.ToUpper(s) && s != strings.ToUpper(lower[:1])+lower[1:] {
		return false, false
	}
	switch lower {
	case "y", "yes", "true", "on":
		return true, true
	case "n", "no", "false", "off":
		return false, true
	}
	return false, false
}

// yamlInt accepts a signed decimal, 0x hex or 0o octal integer.
func yamlInt(s string) (int64, bool) {
	body, neg := s, false
	if strings.HasPrefix(body, "-") || strings.HasPrefix(body, "+") {
		neg, body = body[0] == '-', body[1:]
	}
	base := 10
	switch {
	case strings.HasPrefix(body, "0x"), strings.HasPrefix(body, "0X"):
		base, body = 16, body[2:]
	case strings.HasPrefix(body, "0o"):
		base, body = 8, body[2:]
	}
	if body == "" || strings.ContainsAny(body, "_+-") {
		return 0, false
	}
	u, err := strconv.ParseUint(body, base, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}
