package proxyconf

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// haReq is the request racelab would send.
type haReq struct{ path, host string }

// haTerm is one term of an ACL condition: a named ACL or an anonymous
// one, maybe negated.
type haTerm struct {
	neg  bool
	name string
	anon []string
}

// haCond parses the words after if/unless into OR-ed branches of AND-ed
// terms.
func haCond(words []string) ([][]haTerm, error) {
	var out [][]haTerm
	var cur []haTerm
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "||" || w == "or":
			out = append(out, cur)
			cur = nil
			continue
		}
		t := haTerm{}
		if w == "!" {
			t.neg = true
			i++
			if i >= len(words) {
				return nil, errors.New("condition ends with a negation")
			}
			w = words[i]
		} else if strings.HasPrefix(w, "!") {
			t.neg, w = true, w[1:]
		}
		if w == "{" {
			j := i + 1
			for j < len(words) && words[j] != "}" {
				j++
			}
			if j >= len(words) {
				return nil, fmt.Errorf("unterminated { in condition")
			}
			t.anon = words[i+1 : j]
			i = j
		} else {
			t.name = w
		}
		cur = append(cur, t)
	}
	return append(out, cur), nil
}

// haACL is a criterion with its flags and values.
type haACL struct {
	crit   string
	icase  bool
	mode   string
	values []string
}

func parseACL(words []string) haACL {
	a := haACL{}
	if len(words) == 0 {
		return a
	}
	a.crit = words[0]
	i := 1
	for ; i < len(words); i++ {
		switch words[i] {
		case "-i":
			a.icase = true
		case "-m":
			if i+1 < len(words) {
				a.mode = words[i+1]
				i++
			}
		case "-f", "-M":
			a.crit = "" // patterns from a file: unknown here
			return a
		case "-n", "-u":
			if words[i] == "-u" {
				i++
			}
		case "--":
			a.values = words[i+1:]
			return a
		default:
			a.values = words[i:]
			return a
		}
	}
	return a
}

// kind is what the criterion looks at, "path" or "host", and how it
// matches: beg, end, sub, reg, dom or str.
func (a haACL) kind() (what, match string) {
	crit := strings.ToLower(a.crit)
	for _, h := range []string{"hdr(host)", "req.hdr(host)", "hdr_beg(host)", "hdr_end(host)", "hdr_dom(host)", "hdr_sub(host)", "hdr_reg(host)", "req.hdr(host),lower", "hdr(host),lower"} {
		if crit == h {
			what = "host"
		}
	}
	switch {
	case strings.HasPrefix(crit, "path") && !strings.HasPrefix(crit, "path,"):
		what = "path"
	case crit == "url_beg" || crit == "base_beg":
		what = "path"
	}
	if what == "" {
		return "", ""
	}
	match = "str"
	for _, m := range []string{"beg", "end", "sub", "reg", "dom"} {
		if strings.Contains(crit, "_"+m) {
			match = m
		}
	}
	if a.mode != "" {
		match = a.mode
	}
	return what, match
}

// eval reports whether the ACL matches req; known is false for criteria
// this reader does not evaluate.
func (a haACL) eval(req haReq) (match, known bool) {
	what, how := a.kind()
	if what == "" {
		return false, false
	}
	subject := req.path
	if what == "host" {
		subject = req.host
	}
	for _, v := range a.values {
		s, p := subject, v
		if a.icase || what == "host" {
			s, p = strings.ToLower(s), strings.ToLower(p)
		}
		ok := false
		switch how {
		case "beg":
			ok = strings.HasPrefix(s, p)
		case "end":
			ok = strings.HasSuffix(s, p)
		case "sub":
			ok = strings.Contains(s, p)
		case "dom":
			ok = s == p || strings.HasPrefix(s, p+".") || strings.HasSuffix(s, "."+p) || strings.Contains(s, "."+p+".")
		case "reg":
			re, err := regexp.Compile(v)
			if err != nil {
				return false, false
			}
			ok = re.MatchString(subject)
		default:
			ok = s == p
		}
		if ok {
			return true, true
		}
	}
	return false, true
}

// constraint is what a positive term requires of the request.
func (a haACL) constraint() (what, value string, ok bool) {
	what, how := a.kind()
	if what == "" || len(a.values) == 0 {
		return "", "", false
	}
	v := a.values[0]
	switch {
	case what == "path" && how == "beg":
		return "path", v, true
	case what == "host" && (how == "str" || how == "dom" || how == "beg" || how == "end"):
		return "host", strings.ToLower(v), true
	}
	return "", "", false
}

// haRouter evaluates the use_backend rules of one frontend.
type haRouter struct {
	acls map[string][]haACL
}

func newHARouter(sec *Section) *haRouter {
	r := &haRouter{acls: map[string][]haACL{}}
	for _, l := range sec.Lines {
		if len(l.Args) >= 3 && l.Args[0] == "acl" {
			r.acls[l.Args[1]] = append(r.acls[l.Args[1]], parseACL(l.Args[2:]))
		}
	}
	return r
}

func (r *haRouter) term(t haTerm) []haACL {
	if t.anon != nil {
		return []haACL{parseACL(t.anon)}
	}
	switch t.name {
	case "TRUE":
		return []haACL{{crit: "always_true"}}
	}
	return r.acls[t.name]
}

// eval evaluates a condition for req; known is false when a term could
// not be evaluated.
func (r *haRouter) eval(branches [][]haTerm, req haReq) (match, known bool) {
	known = true
	for _, br := range branches {
		all := true
		for _, t := range br {
			m, k := false, true
			if t.name == "TRUE" {
				m = true
			} else if t.name == "FALSE" {
				m = false
			} else {
				k = false
				for _, a := range r.term(t) {
					am, ak := a.eval(req)
					if ak {
						k = true
					}
					if am {
						m, k = true, true
						break
					}
				}
			}
			if !k {
				known = false
			}
			if t.neg {
				m = !m
			}
			if !m {
				all = false
			}
		}
		if all {
			return true, known
		}
	}
	return false, known
}

// build returns a request that satisfies one branch, from its path_beg
// and host terms.
func (r *haRouter) build(branches [][]haTerm) (haReq, bool) {
	for _, br := range branches {
		req := haReq{path: "/"}
		ok := true
		for _, t := range br {
			if t.neg {
				continue
			}
			acls := r.term(t)
			found := false
			for _, a := range acls {
				if what, v, cok := a.constraint(); cok {
					if what == "path" {
						req.path = v
					} else {
						req.host = v
					}
					found = true
					break
				}
			}
			if !found && t.name != "TRUE" {
				ok = false
			}
		}
		if ok {
			if m, _ := r.eval([][]haTerm{br}, probeReq(req)); m {
				return req, true
			}
		}
	}
	return haReq{}, false
}

// probeReq is the request racelab sends under a route: its own path
// appended.
func probeReq(r haReq) haReq {
	p := r.path
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return haReq{path: p + "r/0", host: r.host}
}
