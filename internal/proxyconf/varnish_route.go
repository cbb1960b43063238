package proxyconf

import (
	"fmt"
	"slices"
	"strings"
)

// findRoute finds the request that reaches the backend or director under
// test: the first "set req.backend_hint = X" (or bereq.backend) that
// names it, and the request conditions of the if blocks around it that
// racelab reads (req.url ~ or == a path prefix, req.http.host == or ~ a
// plain name). Without one, the first backend declared is Varnish's
// default and takes every request.
func (r *vclRewriter) findRoute() (Route, error) {
	targets := map[string]bool{r.under: true, r.under + ".backend": true}
	for d, members := range r.directors {
		if slices.Contains(members, r.under) {
			targets[d+".backend"] = true
		}
	}
	for _, d := range r.decls {
		if d.kind != "sub" {
			continue
		}
		t := d.toks
		var stack []vframe
		var pending *vframe
		for i := 0; i < len(t); i++ {
			x := t[i]
			switch {
			case (x.text == "if" || x.text == "elseif" || x.text == "elsif" || x.text == "elif") && i+1 < len(t) && t[i+1].text == "(":
				cond := parenBody(t, i+1)
				f := vframe{cond: cond, at: x}
				if x.text != "if" || (i > 0 && t[i-1].text == "else") {
					f.elseOf = true
				}
				pending = &f
				i += len(cond) + 1
			case x.text == "else" && i+1 < len(t) && t[i+1].text == "{":
				pending = &vframe{elseOf: true, at: x}
			case x.text == "{":
				f := vframe{}
				if pending != nil {
					f = *pending
				}
				stack = append(stack, f)
				pending = nil
			case x.text == "}":
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
			case x.text == "set" && i+3 < len(t) && (t[i+1].text == "req.backend_hint" || t[i+1].text == "bereq.backend") && t[i+2].text == "=" && targets[t[i+3].text]:
				return r.routeFrom(x, stack)
			}
		}
	}
	for _, b := range r.backends {
		if b.none {
			continue
		}
		if b.name == r.under || targets[b.name] {
			r.notes = append(r.notes, fmt.Sprintf("no req.backend_hint names %s: it is the first backend declared (%s), Varnish's default for every request", r.under, b.decl.toks[0].pos()))
			return Route{Path: "/", UpstreamPath: "/", Source: b.decl.toks[0].pos()}, nil
		}
		break
	}
	return Route{}, fmt.Errorf("%s: no listener routes to %s: no \"set req.backend_hint = %s\" (or %s.backend()) in a sub, and it is not the first backend declared", Display(r.in.Path), r.under, r.under, r.under)
}

type vframe struct {
	cond   []vtok
	elseOf bool
	at     vtok
}

func (r *vclRewriter) routeFrom(set vtok, stack []vframe) (Route, error) {
	route := Route{Path: "/", Source: set.pos()}
	for _, f := range stack {
		if f.elseOf {
			r.notes = append(r.notes, fmt.Sprintf("%s: the route is an else branch: racelab's requests must miss the conditions before it, which it does not check", f.at.pos()))
		}
		if f.cond == nil {
			continue
		}
		clauses, alt := splitTop(f.cond, "&&")
		if alt {
			r.notes = append(r.notes, fmt.Sprintf("%s: a condition with ||: racelab follows its first alternative", f.at.pos()))
		}
		for _, c := range clauses {
			if len(c) != 3 || c[2].kind != 's' || (c[1].text != "~" && c[1].text != "==") {
				r.notes = append(r.notes, fmt.Sprintf("%s: condition %q not read: racelab's requests may not meet it", c[0].pos(), joinToks(c)))
				continue
			}
			v := unquoteVCL(c[2].text)
			switch strings.ToLower(c[0].text) {
			case "req.url", "bereq.url":
				p, ok := regexPrefix(v, c[1].text == "~")
				if !ok {
					return Route{}, fmt.Errorf("%s: the route to %s needs a URL matching %q: racelab sends its requests under a path prefix, and reads none from it", c[0].pos(), r.under, v)
				}
				route.Path = p
			case "req.http.host", "bereq.http.host":
				h, ok := regexLiteral(v, c[1].text == "~")
				if !ok {
					return Route{}, fmt.Errorf("%s: the route to %s needs a Host matching %q: racelab reads only a plain name", c[0].pos(), r.under, v)
				}
				route.Host = h
			default:
				r.notes = append(r.notes, fmt.Sprintf("%s: condition %q not read: racelab's requests may not meet it", c[0].pos(), joinToks(c)))
			}
		}
	}
	route.UpstreamPath = route.Path
	return route, nil
}

// splitTop splits a condition at sep outside parentheses; the second
// result says a || was there, and only its first alternative is kept.
func splitTop(t []vtok, sep string) ([][]vtok, bool) {
	for len(t) >= 2 && t[0].text == "(" && len(parenBody(t, 0)) == len(t)-2 {
		t = t[1 : len(t)-1]
	}
	depth := 0
	for i, x := range t {
		switch x.text {
		case "(":
			depth++
		case ")":
			depth--
		case "||":
			if depth == 0 {
				out, _ := splitTop(t[:i], sep)
				return out, true
			}
		}
	}
	var out [][]vtok
	start := 0
	depth = 0
	for i, x := range t {
		switch x.text {
		case "(":
			depth++
		case ")":
			depth--
		case sep:
			if depth == 0 {
				out = append(out, t[start:i])
				start = i + 1
			}
		}
	}
	out = append(out, t[start:])
	var flat [][]vtok
	alt := false
	for _, c := range out {
		if len(c) >= 2 && c[0].text == "(" && len(parenBody(c, 0)) == len(c)-2 {
			sub, a := splitTop(c, sep)
			flat = append(flat, sub...)
			alt = alt || a
			continue
		}
		flat = append(flat, c)
	}
	return flat, alt
}

// regexPrefix reads the path prefix a URL regex (or, exact, a URL)
// matches: "^/api/" gives "/api/".
func regexPrefix(v string, regex bool) (string, bool) {
	if !regex {
		return "", false
	}
	v = strings.TrimPrefix(v, "^")
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) && strings.IndexByte("./-_~", v[i+1]) >= 0 {
			b.WriteByte(v[i+1])
			i++
			continue
		}
		if strings.IndexByte(`.[]()*+?{}|$^\`, c) >= 0 {
			// A quantifier binds the character before it.
			if strings.IndexByte("*?{", c) >= 0 && b.Len() > 0 {
				s := b.String()
				b.Reset()
				b.WriteString(s[:len(s)-1])
			}
			break
		}
		b.WriteByte(c)
	}
	p := b.String()
	if !strings.HasPrefix(p, "/") {
		return "", false
	}
	return p, true
}

// regexLiteral reads a host a regex or string matches when it is a plain
// name ("^shop\.example\.com$").
func regexLiteral(v string, regex bool) (string, bool) {
	if !regex {
		return v, v != "" && !strings.ContainsAny(v, " \t\"")
	}
	v = strings.TrimPrefix(strings.TrimPrefix(v, "(?i)"), "^")
	v = strings.TrimSuffix(v, "$")
	v = strings.ReplaceAll(v, `\.`, ".")
	if v == "" || strings.ContainsAny(v, `[]()*+?{}|$^\ `) {
		return "", false
	}
	return v, true
}
