package guard

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Node.js's headersTimeout default (Node.js 18 and later: the lower of
// 60 s and requestTimeout, which defaults to 300 s).
const nodeHeadersDefault = 60 * time.Second

// parseNodeSource reads Node.js's keepAliveTimeout from a JSON file (see
// ReadNode) or from JavaScript or TypeScript source: assignments
// (`server.keepAliveTimeout = 65_000`, also on the value app.listen()
// returned) and createServer or new Server options (`{ keepAliveTimeout:
// 65 * 1000 }`), with numeric separators, constant arithmetic and
// constants the file defines. headersTimeout is read beside it: at or
// below keepAliveTimeout it is a violation (older Node.js releases close
// an idle connection when headersTimeout runs out), and the guard checks
// the lower of the two. Servers are told apart by the variable they are
// assigned to; several with different values are ambiguous unless one is
// picked by name.
func parseNodeSource(c *readConfig, path string, data []byte) ([]Value, error) {
	if t := bytes.TrimSpace(data); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		if c.name != "" {
			return nil, fmt.Errorf("read node: %s: a JSON file has no servers to pick by name %q", path, c.name)
		}
		return parseNode(path, data)
	}
	toks, err := jsTokens(data)
	if err != nil {
		return nil, fmt.Errorf("read node: %s:%w", path, err)
	}
	servers, err := nodeServers(path, toks)
	if err != nil {
		return nil, fmt.Errorf("read node: %w", err)
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("read node: %s: no keepAliveTimeout, createServer or listen() found: want JavaScript or TypeScript that starts a Node.js HTTP server, or JSON", path)
	}
	var names []string
	var picked []*nodeServer
	for _, s := range servers {
		names = append(names, s.name)
		if c.name == "" || s.name == c.name || strings.TrimPrefix(s.name, "this.") == c.name {
			picked = append(picked, s)
		}
	}
	if len(picked) == 0 {
		return nil, fmt.Errorf("read node: %s: no server named %q (found: %s)", path, c.name, strings.Join(names, ", "))
	}
	vals := make([]Value, len(picked))
	for i, s := range picked {
		if vals[i], err = s.value(path); err != nil {
			return nil, fmt.Errorf("read node: %w", err)
		}
	}
	for _, v := range vals[1:] {
		if v.State != vals[0].State || v.Duration != vals[0].Duration {
			var b strings.Builder
			fmt.Fprintf(&b, "read node: %s: ambiguous: %d servers with different keep-alives:", path, len(picked))
			for i, s := range picked {
				fmt.Fprintf(&b, "\n  %s: server %s: %s", vals[i].Source, s.name, vals[i].Show())
			}
			fmt.Fprintf(&b, "\npick one with --backend-name NAME or node:%s#NAME", path)
			return nil, errors.New(b.String())
		}
	}
	return vals, nil
}

// nodeSetting is one keepAliveTimeout or headersTimeout set in source.
type nodeSetting struct {
	ms   float64
	line int
	text string
}

// nodeServer is one server the source configures.
type nodeServer struct {
	name      string
	line      int // where the server is created or first configured
	keepAlive *nodeSetting
	headers   *nodeSetting
}

func (s *nodeServer) value(path string) (Value, error) {
	v := Value{Source: fmt.Sprintf("%s:%d", path, s.line), Name: s.name}
	ka := nodeIdleDefault
	if s.keepAlive != nil {
		v.Source = fmt.Sprintf("%s:%d", path, s.keepAlive.line)
		d, err := millisFloat(s.keepAlive.ms)
		if err != nil {
			return v, fmt.Errorf("%s: keepAliveTimeout %w", v.Source, err)
		}
		if d == 0 {
			v.State, v.Explanation = StateUnbounded, "keepAliveTimeout "+s.keepAlive.text+" = 0: Node.js turns the keep-alive timer off"
			return v, nil
		}
		ka = d
		v.Explanation = fmt.Sprintf("keepAliveTimeout %s = %sms (Node.js's unit)", s.keepAlive.text, strconv.FormatFloat(s.keepAlive.ms, 'f', -1, 64))
	} else {
		v.Default = true
		v.Explanation = "keepAliveTimeout not set: Node.js's default 5000ms"
		v.Notes = append(v.Notes, "a later Node.js major raises the default to 65s; the guard keeps the lower one")
	}
	v.State, v.Duration = StateFinite, ka
	nodeEffective(&v)
	hd, hdText, hdLine := nodeHeadersDefault, "not set (default 60000ms)", 0
	if s.headers != nil {
		d, err := millisFloat(s.headers.ms)
		if err != nil {
			return v, fmt.Errorf("%s:%d: headersTimeout %w", path, s.headers.line, err)
		}
		hd, hdText, hdLine = d, s.headers.text, s.headers.line
	}
	if hd > 0 && hd <= ka {
		where := ""
		if hdLine > 0 {
			where = fmt.Sprintf(" (%s:%d)", path, hdLine)
		}
		v.Notes = append(v.Notes, fmt.Sprintf("violation: headersTimeout %s%s must exceed keepAliveTimeout %s: Node.js before 18 closes a kept-alive connection whose next request starts after headersTimeout; set headersTimeout to keepAliveTimeout + 1000", hdText, where, FormatMS(ka)))
		v.Duration = hd
		v.Explanation += fmt.Sprintf("; headersTimeout %s is not above it, so the guard checks %s", hdText, FormatMS(hd))
	}
	return v, nil
}

// nodeServers finds the servers a token stream configures.
func nodeServers(path string, toks []jsToken) ([]*nodeServer, error) {
	consts := jsConstants(toks)
	var servers []*nodeServer
	var listens []jsToken // listen() calls whose result is not kept
	byName := map[string]*nodeServer{}
	server := func(name string, line int) *nodeServer {
		if s, ok := byName[name]; ok {
			return s
		}
		s := &nodeServer{name: name, line: line}
		byName[name] = s
		servers = append(servers, s)
		return s
	}
	set := func(s *nodeServer, key string, at int, end func(jsToken, int) bool) error {
		expr := jsExpr(toks, at, end)
		ms, err := evalJS(expr, consts)
		text := jsText(expr)
		if err != nil {
			return fmt.Errorf("%s:%d: %s = %s: %w; give --backend-keepalive", path, toks[at-1].line, key, text, err)
		}
		st := &nodeSetting{ms: ms, line: toks[at-1].line, text: text}
		old := &s.keepAlive
		if key == "headersTimeout" {
			old = &s.headers
		}
		if *old != nil && (*old).ms != ms {
			return fmt.Errorf("%s: ambiguous: server %s sets %s twice: %s at line %d, %s at line %d; pick one with --backend-keepalive", path, s.name, key, (*old).text, (*old).line, text, st.line)
		}
		*old = st
		return nil
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		// OBJ.keepAliveTimeout = EXPR
		case (t.text == "keepAliveTimeout" || t.text == "headersTimeout") && i >= 2 && toks[i-1].text == "." &&
			i+2 < len(toks) && toks[i+1].text == "=":
			name := jsReceiver(toks, i-1)
			if err := set(server(name, t.line), t.text, i+2, stmtEnd); err != nil {
				return nil, err
			}
		// createServer({...}) and new Server({...})
		case (t.text == "createServer" || (t.text == "Server" && jsNewBefore(toks, i))) && i+1 < len(toks) && toks[i+1].text == "(":
			s := server(jsAssignedTo(toks, i, t.line), t.line)
			if i+2 < len(toks) && toks[i+2].text == "{" {
				depth := 0
				for j := i + 2; j < len(toks); j++ {
					switch toks[j].text {
					case "{", "(", "[":
						depth++
					case "}", ")", "]":
						depth--
					}
					if depth == 0 {
						break
					}
					if depth == 1 && (toks[j].text == "keepAliveTimeout" || toks[j].text == "headersTimeout") && j+1 < len(toks) && toks[j+1].text == ":" {
						if err := set(s, toks[j].text, j+2, propEnd); err != nil {
							return nil, err
						}
					}
				}
			}
		// const server = app.listen(...)
		case t.text == "listen" && i >= 1 && toks[i-1].text == "." && i+1 < len(toks) && toks[i+1].text == "(":
			if name := jsAssignedTo(toks, i, 0); name != "server at" {
				server(name, t.line)
			} else if len(listens) == 0 {
				listens = append(listens, jsToken{text: jsReceiver(toks, i-1), line: t.line})
			}
		}
	}
	if len(servers) == 0 && len(listens) > 0 {
		// app.listen(3000) and nothing set: the default applies.
		server(listens[0].text, listens[0].line)
	}
	return servers, nil
}

// jsToken is one JavaScript token with its line.
type jsToken struct {
	text string
	line int
	kind byte // 'i' identifier, 'n' number, 's' string, 'p' punctuation
}

// jsTokens splits source into tokens, skipping comments, strings'
// contents, template literals and regular expressions well enough to
// find assignments and object literals.
func jsTokens(data []byte) ([]jsToken, error) {
	s := string(data)
	line := 1
	var out []jsToken
	regexOK := true // a "/" here starts a regular expression
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case strings.HasPrefix(s[i:], "//") || (i == 0 && strings.HasPrefix(s, "#!")):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("%d: unterminated comment", line)
			}
			line += strings.Count(s[i:i+2+end], "\n")
			i += end + 4
		case c == '"' || c == '\'' || c == '`':
			start, startLine := i, line
			i++
			depth := 0
			for i < len(s) && (s[i] != c || depth > 0) {
				switch {
				case s[i] == '\\':
					i++
				case s[i] == '\n':
					if c != '`' {
						return nil, fmt.Errorf("%d: unterminated string", startLine)
					}
					line++
				case c == '`' && strings.HasPrefix(s[i:], "${"):
					depth++
					i++
				case c == '`' && s[i] == '}' && depth > 0:
					depth--
				}
				i++
			}
			if i >= len(s) {
				return nil, fmt.Errorf("%d: unterminated string", startLine)
			}
			i++
			out = append(out, jsToken{text: s[start:i], line: startLine, kind: 's'})
			regexOK = false
		case c == '/' && regexOK:
			i++
			inClass := false
			for i < len(s) && s[i] != '\n' && (s[i] != '/' || inClass) {
				switch s[i] {
				case '\\':
					i++
				case '[':
					inClass = true
				case ']':
					inClass = false
				}
				i++
			}
			for i++; i < len(s) && isIdentByte(s[i]); i++ { // flags
			}
			out = append(out, jsToken{text: "/re/", line: line, kind: 's'})
			regexOK = false
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			start := i
			for i < len(s) && (isIdentByte(s[i]) || s[i] == '.' ||
				((s[i] == '+' || s[i] == '-') && (s[i-1] == 'e' || s[i-1] == 'E') && !strings.HasPrefix(strings.ToLower(s[start:]), "0x"))) {
				i++
			}
			out = append(out, jsToken{text: s[start:i], line: line, kind: 'n'})
			regexOK = false
		case isIdentByte(c) || c >= 0x80:
			start := i
			for i < len(s) && (isIdentByte(s[i]) || s[i] >= 0x80) {
				i++
			}
			word := s[start:i]
			out = append(out, jsToken{text: word, line: line, kind: 'i'})
			regexOK = slices.Contains([]string{"return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "yield", "await"}, word)
		default:
			n := 1
			for _, p := range []string{"===", "!==", "**=", "...", "=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "++", "--", "+=", "-=", "*=", "/=", "**"} {
				if strings.HasPrefix(s[i:], p) {
					n = len(p)
					break
				}
			}
			p := s[i : i+n]
			out = append(out, jsToken{text: p, line: line, kind: 'p'})
			regexOK = !slices.Contains([]string{")", "]", "}", "++", "--"}, p)
			i += n
		}
	}
	return out, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// stmtEnd ends an assignment's expression: ";", a closing bracket of
// the enclosing block, or a new line when the expression is complete.
func stmtEnd(t jsToken, depth int) bool {
	return depth == 0 && (t.text == ";" || t.text == "}" || t.text == ")" || t.text == ",")
}

// propEnd ends an object property's value.
func propEnd(t jsToken, depth int) bool {
	return depth == 0 && (t.text == "," || t.text == "}")
}

// jsExpr returns the tokens from at to the expression's end.
func jsExpr(toks []jsToken, at int, end func(jsToken, int) bool) []jsToken {
	depth := 0
	var out []jsToken
	for j := at; j < len(toks); j++ {
		t := toks[j]
		if end(t, depth) {
			break
		}
		// An expression ends at a line break where it is complete: the
		// next line starts a statement (no semicolons).
		if len(out) > 0 && depth == 0 && t.line != out[len(out)-1].line && jsComplete(out) && t.kind != 'p' {
			break
		}
		switch t.text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		}
		out = append(out, t)
	}
	return out
}

// jsComplete reports an expression that does not end in an operator.
func jsComplete(toks []jsToken) bool {
	last := toks[len(toks)-1]
	return last.kind != 'p' || last.text == ")" || last.text == "]"
}

func jsText(toks []jsToken) string {
	parts := make([]string, len(toks))
	for i, t := range toks {
		parts[i] = t.text
	}
	return strings.Join(parts, " ")
}

// jsReceiver is the object before ".keepAliveTimeout" at dot: a dotted
// name ("server", "this.server"), or "server at line N" for a call's
// result.
func jsReceiver(toks []jsToken, dot int) string {
	var parts []string
	j := dot - 1
	for j >= 0 && toks[j].kind == 'i' {
		parts = append([]string{toks[j].text}, parts...)
		if j >= 1 && (toks[j-1].text == "." || toks[j-1].text == "?.") {
			j -= 2
			continue
		}
		break
	}
	if len(parts) == 0 {
		return fmt.Sprintf("server at line %d", toks[dot].line)
	}
	return strings.Join(parts, ".")
}

// jsNewBefore reports "new Server" or "new http.Server" before i.
func jsNewBefore(toks []jsToken, i int) bool {
	for j := i - 1; j >= 0; j-- {
		switch {
		case toks[j].text == "new":
			return true
		case toks[j].text == "." || toks[j].kind == 'i':
			continue
		}
		return false
	}
	return false
}

// jsAssignedTo is the variable a call starting at the callee token i is
// assigned to ("const server = http.createServer(" → "server"), or
// "server at line N" (N = line) when it is not assigned.
func jsAssignedTo(toks []jsToken, i, line int) string {
	j := i - 1
	for j >= 1 && (toks[j].text == "." || toks[j].text == "?.") && toks[j-1].kind == 'i' {
		j -= 2 // http.createServer, require("http").createServer stays unassigned
	}
	if j >= 1 && toks[j].text == "new" {
		j--
	}
	if j >= 1 && toks[j].text == "=" {
		// const server: http.Server = ...
		k := j - 1
		for k >= 1 && toks[k].kind == 'i' && toks[k-1].text == "." {
			k -= 2
		}
		if k >= 2 && toks[k-1].text == ":" && toks[k-2].kind == 'i' {
			return toks[k-2].text
		}
		return jsReceiver(toks, j)
	}
	if line == 0 {
		return "server at"
	}
	return fmt.Sprintf("server at line %d", line)
}

// jsConstants collects names the source binds once to a constant
// numeric expression (const KEEP_ALIVE = 65 * 1000); a name bound twice
// is left out.
func jsConstants(toks []jsToken) map[string]float64 {
	consts := map[string]float64{}
	seen := map[string]int{}
	for i := 0; i+3 < len(toks); i++ {
		if k := toks[i].text; (k != "const" && k != "let" && k != "var") || toks[i+1].kind != 'i' {
			continue
		}
		j := i + 2
		if toks[j].text == ":" && j+2 < len(toks) { // TypeScript: const A: number = ...
			j += 2
		}
		if toks[j].text != "=" {
			continue
		}
		name := toks[i+1].text
		seen[name]++
		if v, err := evalJS(jsExpr(toks, j+1, stmtEnd), consts); err == nil {
			consts[name] = v
		}
	}
	for name, n := range seen {
		if n > 1 {
			delete(consts, name)
		}
	}
	return consts
}

// evalJS evaluates a constant numeric expression: numbers (separators,
// exponents, hex), + - * / % **, parentheses, constants, and a trailing
// TypeScript "as number".
func evalJS(toks []jsToken, consts map[string]float64) (float64, error) {
	if n := len(toks); n >= 2 && toks[n-2].text == "as" {
		toks = toks[:n-2]
	}
	if len(toks) == 0 {
		return 0, errors.New("no value")
	}
	p := &jsEval{toks: toks, consts: consts}
	v, err := p.sum()
	if err == nil && p.i < len(p.toks) {
		err = fmt.Errorf("not a constant number (at %q)", p.toks[p.i].text)
	}
	if err != nil {
		return 0, fmt.Errorf("a computed value cannot be read: %w", err)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errors.New("not a finite number")
	}
	return v, nil
}

type jsEval struct {
	toks   []jsToken
	i      int
	consts map[string]float64
}

func (p *jsEval) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i].text
	}
	return ""
}

func (p *jsEval) sum() (float64, error) {
	v, err := p.product()
	for err == nil && (p.peek() == "+" || p.peek() == "-") {
		op := p.peek()
		p.i++
		var w float64
		if w, err = p.product(); op == "+" {
			v += w
		} else {
			v -= w
		}
	}
	return v, err
}

func (p *jsEval) product() (float64, error) {
	v, err := p.power()
	for err == nil && (p.peek() == "*" || p.peek() == "/" || p.peek() == "%") {
		op := p.peek()
		p.i++
		var w float64
		w, err = p.power()
		switch op {
		case "*":
			v *= w
		case "/":
			v /= w
		default:
			v = math.Mod(v, w)
		}
	}
	return v, err
}

func (p *jsEval) power() (float64, error) {
	v, err := p.unary()
	if err == nil && p.peek() == "**" {
		p.i++
		var w float64
		w, err = p.power()
		v = math.Pow(v, w)
	}
	return v, err
}

func (p *jsEval) unary() (float64, error) {
	switch p.peek() {
	case "-":
		p.i++
		v, err := p.unary()
		return -v, err
	case "+":
		p.i++
		return p.unary()
	case "(":
		p.i++
		v, err := p.sum()
		if err != nil {
			return 0, err
		}
		if p.peek() != ")" {
			return 0, errors.New("unbalanced parentheses")
		}
		p.i++
		return v, nil
	case "":
		return 0, errors.New("incomplete expression")
	}
	t := p.toks[p.i]
	p.i++
	switch t.kind {
	case 'n':
		return jsNumber(t.text)
	case 'i':
		if v, ok := p.consts[t.text]; ok {
			return v, nil
		}
		return 0, fmt.Errorf("%s is not a constant of this file", t.text)
	}
	return 0, fmt.Errorf("not a constant number (at %q)", t.text)
}

// jsNumber parses a numeric literal: 65000, 65_000, 6.5e4, 0xFDE8.
func jsNumber(s string) (float64, error) {
	if strings.HasPrefix(s, "_") || strings.HasSuffix(s, "_") || strings.Contains(s, "__") || strings.HasSuffix(s, "n") {
		return 0, fmt.Errorf("number %s: not a plain numeric literal", s)
	}
	clean := strings.ReplaceAll(s, "_", "")
	if l := strings.ToLower(clean); strings.HasPrefix(l, "0x") || strings.HasPrefix(l, "0o") || strings.HasPrefix(l, "0b") {
		n, err := strconv.ParseInt(clean, 0, 64)
		if err != nil {
			return 0, fmt.Errorf("number %s: %w", s, err)
		}
		return float64(n), nil
	}
	v, err := strconv.ParseFloat(clean, 64)
	if err != nil {
		return 0, fmt.Errorf("number %s: not a number", s)
	}
	return v, nil
}
