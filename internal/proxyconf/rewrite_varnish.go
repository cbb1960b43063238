package proxyconf

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// VarnishVCLName is the rewritten VCL's file name; VarnishWorkDir is
// varnishd's working directory (-n) inside Input.Dir.
const (
	VarnishVCLName = "racelab.vcl"
	VarnishWorkDir = "varnish"
)

// Varnish's own defaults for the parameters racelab reports.
const (
	varnishIdleDefault  = 60 * time.Second
	varnishIdleFloor    = time.Second
	varnishClientIdle   = 60 * time.Second
	varnishHostReplaced = "127.0.0.1"
)

// varnishVmods are the vmods Varnish itself ships that racelab runs;
// vtc and debug are left out (vtc's barriers connect to sockets).
var varnishVmods = []string{"std", "directors", "blob", "cookie", "proxy", "purge", "unix", "h2"}

// varnishKeptParams are the varnishd parameters of a user's command line
// racelab applies as given; every other one is dropped and listed.
var varnishKeptParams = []string{"connect_timeout", "first_byte_timeout", "between_bytes_timeout",
	"max_retries", "max_restarts", "backend_local_error_holddown", "backend_remote_error_holddown",
	"http_req_size", "http_resp_size", "http_req_hdr_len", "http_resp_hdr_len", "http_max_hdr",
	"workspace_client", "workspace_backend", "default_ttl", "default_grace", "default_keep",
	"send_timeout", "idle_send_timeout", "shortlived"}

// varnishProbeFields are the fields a probe may have.
var varnishProbeFields = []string{".url", ".request", ".expected_response", ".timeout", ".interval",
	".initial", ".window", ".threshold", ".expect_close"}

type vclBackend struct {
	name   string
	decl   vdecl
	fields []vfield
	none   bool
}

type vfield struct {
	name string
	val  []vtok // the value, without the closing ;
	all  []vtok // .name = value;
}

func (f vfield) pos() string { return f.all[0].pos() }

type vclRewriter struct {
	in        Input
	decls     []vdecl
	backends  []*vclBackend
	directors map[string][]string // director → its backends
	dirPos    map[string]string
	under     string
	underSet  map[string]bool
	changes   []Change
	notes     []string
	params    []VarnishParam
}

func rewriteVarnish(in Input) (*Result, error) {
	fsys := in.FS
	if fsys == nil {
		fsys = OSFS{}
	}
	p := &vclParser{fs: fsys, root: in.Root}
	main := in.Path
	data, err := fsys.ReadFile(main)
	if err != nil {
		return nil, err
	}
	r := &vclRewriter{in: in, directors: map[string][]string{}, dirPos: map[string]string{}, underSet: map[string]bool{}}
	if !isVCL(data) {
		vcl, src, params, err := ParseVarnishCommand(p.display(main), data)
		if err != nil {
			return nil, err
		}
		r.params = params
		vpath := vcl
		if filepath.IsAbs(vcl) {
			vpath = filepath.Join(in.Root, vcl)
		} else {
			vpath = filepath.Join(filepath.Dir(main), vcl)
		}
		if data, err = fsys.ReadFile(vpath); err != nil {
			return nil, fmt.Errorf("%s: -f %s: %w", src, vcl, err)
		}
		main = vpath
	}
	if r.decls, err = p.parse(main, data, 0); err != nil {
		return nil, err
	}
	r.notes = p.notes
	if len(r.decls) == 0 || r.decls[0].kind != "vcl" {
		return nil, fmt.Errorf("%s: no vcl version line (vcl 4.1;) first", p.display(main))
	}
	if err := r.scan(); err != nil {
		return nil, err
	}
	var names []string
	inDirector := map[string]bool{}
	for d, members := range r.directors {
		names = append(names, d)
		for _, m := range members {
			inDirector[m] = true
		}
	}
	slices.Sort(names)
	all := slices.Clone(names)
	for _, b := range r.backends {
		if !b.none {
			all = append(all, b.name)
			if !inDirector[b.name] {
				names = append(names, b.name)
			}
		}
	}
	// Unnamed, the only director or lone backend; named, any backend or
	// director.
	want := in.Upstream
	if want != "" && slices.Contains(all, want) {
		names = []string{want}
	}
	if r.under, err = pickUpstream(names, want, "backend or director"); err != nil {
		if want != "" {
			err = fmt.Errorf("no backend or director named %q (found: %s)", want, strings.Join(all, ", "))
		}
		return nil, fmt.Errorf("%s: %w", p.display(in.Path), err)
	}
	if members, ok := r.directors[r.under]; ok {
		for _, m := range members {
			r.underSet[m] = true
		}
	} else {
		r.underSet[r.under] = true
		for d, members := range r.directors {
			if slices.Contains(members, r.under) && len(members) > 1 {
				r.notes = append(r.notes, fmt.Sprintf("backend %s is one of director %s (%s): its other backends point at a closed port; name the director to test them all", r.under, d, r.dirPos[d]))
			}
		}
	}
	route, err := r.findRoute()
	if err != nil {
		return nil, err
	}
	o := &haOut{}
	for i, d := range r.decls {
		if err := r.emit(o, d, i == 0); err != nil {
			return nil, err
		}
	}
	args, validate, eff := r.params2()
	return &Result{
		Main:         VarnishVCLName,
		Files:        map[string]string{VarnishVCLName: o.b.String()},
		Origins:      map[string][]string{VarnishVCLName: o.origins},
		Dirs:         []string{VarnishWorkDir},
		Args:         args,
		ValidateArgs: validate,
		Changes:      r.changes,
		Route:        route,
		Upstream:     r.under,
		Upstreams:    all,
		Effective:    eff,
		Notes:        r.notes,
	}, nil
}

// scan reads backends, imports, ACL hosts, directors and the calls that
// would resolve a name, refusing what racelab cannot run safely.
func (r *vclRewriter) scan() error {
	for _, d := range r.decls {
		t := d.toks
		switch d.kind {
		case "vcl":
			if len(t) != 3 || t[1].kind != 'w' {
				return fmt.Errorf("%s: want vcl 4.0; or vcl 4.1;", t[0].pos())
			}
		case "import":
			if len(t) != 3 || t[1].kind != 'w' {
				return fmt.Errorf("%s: import from a file (import NAME from \"PATH\"): racelab runs only the vmods Varnish ships (%s)", t[0].pos(), strings.Join(varnishVmods, ", "))
			}
			if !slices.Contains(varnishVmods, t[1].text) {
				return fmt.Errorf("%s: import %s: not a vmod Varnish ships; racelab runs only %s", t[0].pos(), t[1].text, strings.Join(varnishVmods, ", "))
			}
		case "backend":
			b := &vclBackend{name: d.name, decl: d}
			if t[len(t)-1].text == ";" && (len(t) < 2 || t[len(t)-2].text != "}") {
				if len(t) != 4 || t[2].text != "none" {
					return fmt.Errorf("%s: backend %s: want a block or none", t[0].pos(), d.name)
				}
				b.none = true
			} else {
				fs, err := vclFields(d)
				if err != nil {
					return err
				}
				b.fields = fs
			}
			if slices.ContainsFunc(r.backends, func(x *vclBackend) bool { return x.name == b.name }) {
				return fmt.Errorf("%s: backend %s declared twice", t[0].pos(), d.name)
			}
			r.backends = append(r.backends, b)
		case "sub":
			if err := r.scanSub(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// vclFields splits a backend or probe block into its fields.
func vclFields(d vdecl) ([]vfield, error) {
	t := d.toks
	i := slices.IndexFunc(t, func(x vtok) bool { return x.text == "{" })
	end := len(t) - 1
	if t[end].text == ";" {
		end--
	}
	var out []vfield
	for i++; i < end; {
		if t[i].kind != 'w' || !strings.HasPrefix(t[i].text, ".") || i+1 >= end || t[i+1].text != "=" {
			return nil, fmt.Errorf("%s: %s %s: want .field = value;", t[i].pos(), d.kind, d.name)
		}
		f := vfield{name: t[i].text}
		j := i + 2
		if j < end && t[j].text == "{" {
			depth := 0
			for ; j < end; j++ {
				if t[j].text == "{" {
					depth++
				} else if t[j].text == "}" {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if j >= end {
				return nil, fmt.Errorf("%s: %s: unbalanced braces", t[i].pos(), f.name)
			}
			f.val = t[i+2 : j+1]
			j++
			if j < end && t[j].text == ";" {
				j++
			}
		} else {
			for j < end && t[j].text != ";" {
				j++
			}
			if j >= end {
				return nil, fmt.Errorf("%s: %s without ;", t[i].pos(), f.name)
			}
			f.val = t[i+2 : j]
			j++
		}
		f.all = t[i:j]
		out = append(out, f)
		i = j
	}
	return out, nil
}

// scanSub finds directors and refuses what resolves a name or reads
// another file.
func (r *vclRewriter) scanSub(d vdecl) error {
	t := d.toks
	for i := 0; i < len(t); i++ {
		switch {
		case t[i].text == "new" && i+4 < len(t) && t[i+2].text == "=" && strings.HasPrefix(t[i+3].text, "directors."):
			r.directors[t[i+1].text] = []string{}
			r.dirPos[t[i+1].text] = t[i].pos()
		case strings.HasSuffix(t[i].text, ".add_backend") && i+2 < len(t) && t[i+1].text == "(":
			dname := strings.TrimSuffix(t[i].text, ".add_backend")
			if m, ok := r.directors[dname]; ok && !slices.Contains(m, t[i+2].text) {
				r.directors[dname] = append(m, t[i+2].text)
			}
		case t[i].text == "std.ip" && i+1 < len(t) && t[i+1].text == "(":
			args := parenBody(t, i+1)
			if !slices.ContainsFunc(args, func(x vtok) bool { return x.text == "resolve" }) ||
				!slices.ContainsFunc(args, func(x vtok) bool { return x.text == "false" }) {
				return fmt.Errorf("%s: std.ip() resolves a host name unless it is given resolve = false: racelab never resolves a name from a configuration", t[i].pos())
			}
		case t[i].text == "include" && i+1 < len(t) && t[i+1].kind == 's':
			return fmt.Errorf("%s: include inside a sub: racelab inlines only top-level includes", t[i].pos())
		}
	}
	return nil
}

// parenBody returns the tokens inside the parentheses opening at i.
func parenBody(t []vtok, i int) []vtok {
	depth := 0
	for j := i; j < len(t); j++ {
		switch t[j].text {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return t[i+1 : j]
			}
		}
	}
	return t[i+1:]
}

func (r *vclRewriter) record(t vtok, directive, old, nw, why string, pooling bool) {
	r.changes = append(r.changes, Change{Directive: directive, File: t.file, Line: t.line, Old: old, New: nw, Why: why, AltersPooling: pooling})
}

func (r *vclRewriter) added(directive, nw, why string) {
	r.changes = append(r.changes, Change{Directive: directive, New: nw, Why: why})
}

// joinToks renders tokens on one line.
func joinToks(t []vtok) string {
	var b strings.Builder
	for i, x := range t {
		if i > 0 && (x.space || x.first) {
			b.WriteByte(' ')
		}
		b.WriteString(x.text)
	}
	return b.String()
}

// emitToks writes tokens keeping their lines, without comments.
func emitToks(o *haOut, t []vtok) {
	var b strings.Builder
	origin := ""
	flush := func() {
		if origin == "" && b.Len() == 0 {
			return
		}
		lines := strings.Split(b.String(), "\n")
		file, n := splitPos(origin)
		for i, l := range lines {
			o.line(l, fmt.Sprintf("%s:%d", file, n+i))
		}
		b.Reset()
		origin = ""
	}
	for i, x := range t {
		if i == 0 || x.first || x.file != t[i-1].file {
			flush()
			origin = x.pos()
			b.WriteString(x.lead)
		} else if x.space {
			b.WriteByte(' ')
		}
		b.WriteString(x.text)
	}
	flush()
}

func splitPos(p string) (string, int) {
	i := strings.LastIndexByte(p, ':')
	n, _ := strconv.Atoi(p[i+1:])
	return p[:i], n
}

// emit writes one declaration, rewritten.
func (r *vclRewriter) emit(o *haOut, d vdecl, first bool) error {
	t := d.toks
	switch d.kind {
	case "vcl":
		emitToks(o, t)
		if first {
			o.line("# VCL rewritten by racelab from "+r.in.Path+"; every change is listed in the run's facts.", "")
			if p := r.in.ReadyPath; p != "" {
				w := `sub vcl_recv { if (req.url == "` + p + `") { return (synth(204)); } }`
				r.added("sub vcl_recv", w, "racelab's log reader probe: answered by Varnish, logged, never fetched (VCL runs the subs of one name in order, so this comes first)")
				o.line(w, "")
			}
		}
	case "include":
		r.record(t[0], "include", joinToks(t), "", "inlined: racelab writes one VCL file", false)
	case "backend":
		return r.emitBackend(o, d)
	case "probe":
		return r.emitProbe(o, d, "probe "+d.name+" {", "}")
	case "acl":
		return r.emitACL(o, d)
	default:
		emitToks(o, t)
	}
	return nil
}

func (r *vclRewriter) emitBackend(o *haOut, d vdecl) error {
	b := r.backend(d.name)
	if b.none {
		emitToks(o, d.toks)
		return nil
	}
	under := r.underSet[b.name]
	addr, why := r.in.Closed, "backend not under test: a closed loopback port"
	if under {
		addr, why = r.in.Backend, "backend under test: racelab's backend"
	}
	ap := netip.MustParseAddrPort(addr)
	host := `"` + ap.Addr().String() + `"`
	port := `"` + strconv.Itoa(int(ap.Port())) + `"`
	o.line(joinToks(d.toks[:3]), d.toks[0].pos())
	var old []string
	oldPos := d.toks[0]
	sawMax := false
	for _, f := range b.fields {
		text := joinToks(f.all)
		switch f.name {
		case ".host", ".port", ".path":
			if len(old) == 0 {
				oldPos = f.all[0]
			}
			old = append(old, text)
			continue
		case ".proxy_header", ".via", ".authority":
			r.record(f.all[0], f.name, text, "", "racelab's backend speaks plain HTTP/1.1 on loopback: no PROXY header, no other backend in between", false)
			continue
		case ".host_header":
			r.record(f.all[0], f.name, text, "", "it names a host of the user's; the backend sees the client's Host", false)
			continue
		case ".max_connections":
			if under {
				sawMax = true
				if joinToks(f.val) != "1" {
					r.record(f.all[0], f.name, text, ".max_connections = 1;", "exactly one pooled connection to racelab's backend, so the race is reproducible", true)
					o.line("    .max_connections = 1;", f.pos())
					continue
				}
			}
		case ".probe":
			if len(f.val) > 0 && f.val[0].text == "{" {
				if err := r.emitProbe(o, vdecl{kind: "probe", name: b.name + " .probe", toks: f.all}, "    .probe = {", "    }"); err != nil {
					return err
				}
				continue
			}
		}
		emitToks(o, f.all)
	}
	nw := ".host = " + host + "; .port = " + port + ";"
	o.line("    .host = "+host+";", oldPos.pos())
	o.line("    .port = "+port+";", oldPos.pos())
	if len(old) == 0 {
		r.record(d.toks[0], ".host", "", nw, why, false)
	} else {
		r.record(oldPos, ".host", strings.Join(old, " "), nw, why, false)
	}
	if under && !sawMax {
		r.added(".max_connections", "backend "+b.name+" { .max_connections = 1; }", "exactly one pooled connection to racelab's backend, so the race is reproducible (Varnish's default is no limit)")
		r.changes[len(r.changes)-1].AltersPooling = true
		o.line("    .max_connections = 1;", "")
	}
	o.line("}", d.toks[len(d.toks)-1].pos())
	return nil
}

func (r *vclRewriter) backend(name string) *vclBackend {
	for _, b := range r.backends {
		if b.name == name {
			return b
		}
	}
	return nil
}

// emitProbe writes a probe, its request's Host header replaced: probes
// go to the backend's rewritten address.
func (r *vclRewriter) emitProbe(o *haOut, d vdecl, open, close string) error {
	fields, err := vclFields(d)
	if err != nil {
		return err
	}
	o.line(open, d.toks[0].pos())
	for _, f := range fields {
		if !slices.Contains(varnishProbeFields, f.name) {
			return fmt.Errorf("%s: probe field %s: not one racelab knows (%s)", f.pos(), f.name, strings.Join(varnishProbeFields, " "))
		}
		if f.name != ".request" {
			emitToks(o, f.all)
			continue
		}
		var parts []string
		changed := false
		for _, s := range f.val {
			text := s.text
			if s.kind == 's' && strings.HasPrefix(strings.ToLower(strings.TrimSpace(unquoteVCL(text))), "host:") {
				text, changed = `"Host: racelab"`, true
			}
			parts = append(parts, text)
		}
		nw := "    .request = " + strings.Join(parts, " ") + ";"
		if changed {
			r.record(f.all[0], ".request", joinToks(f.all), strings.TrimSpace(nw), "the probe's Host header names a host of the user's; the probe goes to the rewritten address", false)
			o.line(nw, f.pos())
			continue
		}
		emitToks(o, f.all)
	}
	o.line(close, d.toks[len(d.toks)-1].pos())
	return nil
}

// emitACL keeps address entries (matched, never contacted) and drops host
// names, which varnishd resolves when it compiles the VCL.
func (r *vclRewriter) emitACL(o *haOut, d vdecl) error {
	t := d.toks
	i := slices.IndexFunc(t, func(x vtok) bool { return x.text == "{" })
	o.line(joinToks(t[:i+1]), t[0].pos())
	end := len(t) - 1
	if t[end].text == ";" {
		end--
	}
	for j := i + 1; j < end; {
		k := j
		for k < end && t[k].text != ";" {
			k++
		}
		if k == end {
			return fmt.Errorf("%s: acl %s: entry without ;", t[j].pos(), d.name)
		}
		entry := t[j : k+1]
		j = k + 1
		si := slices.IndexFunc(entry, func(x vtok) bool { return x.kind == 's' })
		if si < 0 {
			return fmt.Errorf("%s: acl %s: entry without a quoted address", entry[0].pos(), d.name)
		}
		v := unquoteVCL(entry[si].text)
		if _, err := netip.ParseAddr(v); err == nil {
			emitToks(o, entry)
			continue
		}
		if strings.EqualFold(v, "localhost") {
			e := slices.Clone(entry)
			e[si].text = `"127.0.0.1"`
			r.record(entry[0], "acl "+d.name, joinToks(entry), joinToks(e), "varnishd would resolve localhost when it compiles the VCL", false)
			emitToks(o, e)
			continue
		}
		r.record(entry[0], "acl "+d.name, joinToks(entry), "", "a host name in an ACL is resolved when varnishd compiles the VCL: dropped, so the ACL no longer matches that host's addresses", false)
	}
	o.line("}", t[len(t)-1].pos())
	return nil
}
