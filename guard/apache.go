package guard

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

const apacheIdleDefault = 5 * time.Second

// ReadApache reads Apache httpd's keep-alive idle timeout from its main
// configuration, following Include and IncludeOptional (relative to
// ServerRoot, else the main file's directory): KeepAliveTimeout, a whole
// number of seconds or with a unit (ms, s, mi, h), default 5 s; KeepAlive
// Off turns keep-alive off whatever the timeout says. Each VirtualHost
// inherits and may override both. WithName picks a virtual host by
// ServerName.
func ReadApache(path string, opts ...ReadOption) ([]Value, error) {
	return readApache(newReadConfig(opts), path)
}

type apacheState struct {
	on, timeout haSetting // reuses the (value, position) pair
}

type apacheVhost struct {
	addr, name, pos string
	st              apacheState
}

type apacheReader struct {
	c          *readConfig
	serverRoot string
	stack      []string
	files      int
	total      int
	server     apacheState
	vhosts     []*apacheVhost
	cur        *apacheVhost
	sections   []string
	// sectionArgs holds each open section's arguments (<Location /api>:
	// "/api"), for ProxyPass inside Location and BalancerMember inside
	// <Proxy balancer://name>.
	sectionArgs [][]string
	// proxies are the ProxyPass and BalancerMember lines, for ReadProxy.
	proxies []apacheProxyLine
	// known counts directives of Apache's core, so that a file that is
	// not an Apache configuration does not read as one with defaults.
	known int
}

var apacheCore = map[string]bool{
	"serverroot": true, "listen": true, "loadmodule": true, "keepalive": true, "keepalivetimeout": true,
	"maxkeepaliverequests": true, "include": true, "includeoptional": true, "servername": true,
	"documentroot": true, "errorlog": true, "customlog": true, "loglevel": true, "user": true, "group": true,
	"serveradmin": true, "timeout": true, "pidfile": true, "directoryindex": true, "accessfilename": true,
	"servertokens": true, "serversignature": true, "hostnamelookups": true, "mutex": true, "defaultruntimedir": true,
	"proxypass": true, "proxypassreverse": true, "rewriteengine": true, "options": true, "allowoverride": true,
	"require": true, "addtype": true, "setenv": true, "header": true, "requestheader": true,
}

func readApache(c *readConfig, path string) ([]Value, error) {
	r := &apacheReader{c: c, serverRoot: filepath.Dir(path)}
	if err := r.file(path); err != nil {
		return nil, fmt.Errorf("read apache: %w", err)
	}
	if len(r.sections) > 0 {
		return nil, fmt.Errorf("read apache: %s: <%s> not closed", path, r.sections[len(r.sections)-1])
	}
	if r.known == 0 && len(r.vhosts) == 0 {
		return nil, fmt.Errorf("read apache: %s: no Apache directives found", path)
	}
	var vals []Value
	if len(r.vhosts) == 0 {
		v, err := apacheValue(path, r.server, apacheState{})
		if err != nil {
			return nil, fmt.Errorf("read apache: %w", err)
		}
		vals = append(vals, v)
	}
	for _, vh := range r.vhosts {
		v, err := apacheValue(path, r.server, vh.st)
		if err != nil {
			return nil, fmt.Errorf("read apache: %w", err)
		}
		v.Name = "vhost " + vh.addr
		if vh.name != "" {
			v.Name = "vhost " + vh.name + " (" + vh.addr + ")"
		}
		vals = append(vals, v)
	}
	return pickErr("read apache", vals, c.name, "vhost")
}

// apacheValue combines the server-wide settings with a virtual host's.
func apacheValue(path string, server, vh apacheState) (Value, error) {
	on, timeout := server.on, server.timeout
	if vh.on.val != "" {
		on = vh.on
	}
	if vh.timeout.val != "" {
		timeout = vh.timeout
	}
	if strings.EqualFold(on.val, "off") {
		expl := "KeepAlive Off: every connection closes after its response"
		if timeout.val != "" {
			expl += " (KeepAliveTimeout " + timeout.val + " is unused)"
		}
		return Value{State: StateOff, Source: on.pos, Explanation: expl}, nil
	}
	if on.val != "" && !strings.EqualFold(on.val, "on") {
		return Value{}, fmt.Errorf("%s: KeepAlive %q: want On or Off", on.pos, on.val)
	}
	if timeout.val == "" {
		return Value{State: StateFinite, Duration: apacheIdleDefault, Default: true, Source: path,
			Explanation: "KeepAliveTimeout not set: Apache's default 5s"}, nil
	}
	d, err := parseApacheTimeout(timeout.val)
	if err != nil {
		return Value{}, fmt.Errorf("%s: KeepAliveTimeout %w", timeout.pos, err)
	}
	if d == 0 {
		return Value{}, fmt.Errorf("%s: KeepAliveTimeout 0: not a usable timeout", timeout.pos)
	}
	expl := "KeepAliveTimeout " + timeout.val
	if isNumber(timeout.val) {
		expl += " (Apache reads a bare number as seconds)"
	}
	return Value{State: StateFinite, Duration: d, Source: timeout.pos, Explanation: expl}, nil
}

func (r *apacheReader) file(path string) error {
	clean := filepath.Clean(path)
	for _, f := range r.stack {
		if f == clean {
			return fmt.Errorf("include cycle: %s -> %s", strings.Join(r.stack, " -> "), clean)
		}
	}
	if len(r.stack) > maxDepth {
		return fmt.Errorf("%s: includes nested deeper than %d", clean, maxDepth)
	}
	if r.files++; r.files > maxFiles {
		return fmt.Errorf("%s: more than %d files included", clean, maxFiles)
	}
	data, err := r.c.read(path)
	if err != nil {
		return err
	}
	if r.total += len(data); r.total > maxTotalSize {
		return fmt.Errorf("%s: included files exceed %d bytes", clean, maxTotalSize)
	}
	r.stack = append(r.stack, clean)
	defer func() { r.stack = r.stack[:len(r.stack)-1] }()
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		start := i
		line := strings.TrimRight(lines[i], "\r")
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + strings.TrimRight(lines[i], "\r")
		}
		if err := r.line(strings.TrimSpace(line), fmt.Sprintf("%s:%d", display(path), start+1)); err != nil {
			return err
		}
	}
	return nil
}

func (r *apacheReader) line(line, pos string) error {
	if line == "" || line[0] == '#' {
		return nil
	}
	if strings.HasPrefix(line, "</") {
		name := strings.TrimSuffix(strings.TrimPrefix(line, "</"), ">")
		if len(r.sections) == 0 || !strings.EqualFold(r.sections[len(r.sections)-1], strings.TrimSpace(name)) {
			return fmt.Errorf("%s: unexpected %s", pos, line)
		}
		if strings.EqualFold(name, "VirtualHost") {
			r.cur = nil
		}
		r.sections = r.sections[:len(r.sections)-1]
		r.sectionArgs = r.sectionArgs[:len(r.sectionArgs)-1]
		return nil
	}
	if line[0] == '<' {
		body, ok := strings.CutSuffix(line, ">")
		if !ok {
			return fmt.Errorf("%s: section %q lacks its closing >", pos, line)
		}
		args, err := haTokens(body[1:])
		if err != nil || len(args) == 0 {
			return fmt.Errorf("%s: bad section %q", pos, line)
		}
		if strings.EqualFold(args[0], "VirtualHost") {
			if r.cur != nil {
				return fmt.Errorf("%s: VirtualHost inside VirtualHost", pos)
			}
			r.cur = &apacheVhost{addr: strings.Join(args[1:], " "), pos: pos}
			r.vhosts = append(r.vhosts, r.cur)
		}
		r.sections = append(r.sections, args[0])
		r.sectionArgs = append(r.sectionArgs, args[1:])
		return nil
	}
	args, err := haTokens(line)
	if err != nil {
		return fmt.Errorf("%s: %w", pos, err)
	}
	name := strings.ToLower(args[0])
	if apacheCore[name] {
		r.known++
	}
	st := &r.server
	if r.cur != nil {
		st = &r.cur.st
	}
	switch name {
	case "keepalive", "keepalivetimeout":
		if len(args) != 2 {
			return fmt.Errorf("%s: %s takes one argument", pos, args[0])
		}
		if name == "keepalive" {
			st.on = haSetting{args[1], pos}
		} else {
			st.timeout = haSetting{args[1], pos}
		}
	case "servername":
		if r.cur != nil && len(args) > 1 {
			r.cur.name = args[1]
		}
	case "serverroot":
		if len(args) == 2 {
			r.serverRoot = args[1]
			if r.c.root != "" && filepath.IsAbs(args[1]) {
				r.serverRoot = filepath.Join(r.c.root, args[1])
			}
		}
	case "proxypass", "proxypassmatch", "balancermember":
		r.proxyLine(name, args[1:], pos)
	case "include", "includeoptional":
		if len(args) != 2 {
			return fmt.Errorf("%s: %s takes one path", pos, args[0])
		}
		return r.include(args[1], name == "includeoptional", pos)
	}
	return nil
}

func (r *apacheReader) include(arg string, optional bool, pos string) error {
	path := arg
	switch {
	case !filepath.IsAbs(path):
		path = filepath.Join(r.serverRoot, path)
	case r.c.root != "":
		path = filepath.Join(r.c.root, path)
	}
	files := []string{path}
	if !hasMeta(path) && r.c.fs.IsDir(path) {
		path = filepath.Join(path, "*")
	}
	if hasMeta(path) {
		m, err := r.c.fs.Glob(path)
		if err != nil {
			return fmt.Errorf("%s: include %q: %w", pos, arg, err)
		}
		if len(m) == 0 && !optional && hasMeta(arg) {
			return fmt.Errorf("%s: Include %q matches no file (IncludeOptional allows that)", pos, arg)
		}
		files = m
	}
	for _, f := range files {
		if r.c.fs.IsDir(f) {
			continue
		}
		if err := r.file(f); err != nil {
			if optional && isNotExist(err) {
				continue
			}
			return fmt.Errorf("%s: include %q: %w", pos, arg, err)
		}
	}
	return nil
}
