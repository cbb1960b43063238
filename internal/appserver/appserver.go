package appserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/racelab/racelab/internal/process"
	"github.com/racelab/racelab/proxies"
)

// Name names a runtime.
type Name string

// The runtimes racelab runs.
const (
	Node     Name = "node"
	Gunicorn Name = "gunicorn"
	Uvicorn  Name = "uvicorn"
	Puma     Name = "puma"
	Tomcat   Name = "tomcat"
	Apache   Name = "apache"
	Nginx    Name = "nginx"
)

// LogPrefix starts every request line the rendered applications write,
// followed by the request method and its path.
const LogPrefix = "racelab-request "

// Runtime is what racelab knows of one runtime before measuring it.
type Runtime struct {
	Name Name
	// Package is the Debian package that installs it.
	Package string
	// Default is the documented default keep-alive idle timeout; Setting
	// how racelab sets it; DefaultNote where the default comes from.
	Default     time.Duration
	Setting     string
	DefaultNote string
	// Unit is the smallest step the setting takes: a keep-alive is
	// rounded up to a whole number of units.
	Unit time.Duration
	// StartTimeout bounds a start, readiness included (a JVM is slow).
	StartTimeout time.Duration
	// Note is a caveat of racelab's set-up for this runtime.
	Note string
}

// tomcatHome is where Debian's tomcat10 package puts Tomcat.
const tomcatHome = "/usr/share/tomcat10"

var runtimes = []Runtime{
	{Name: Node, Package: "nodejs", Default: 5 * time.Second, Setting: "server.keepAliveTimeout",
		DefaultNote: "Node.js 20 http.Server keepAliveTimeout, 5000 ms", Unit: time.Millisecond, StartTimeout: 30 * time.Second},
	{Name: Gunicorn, Package: "gunicorn", Default: 2 * time.Second, Setting: "--keep-alive",
		DefaultNote: "gunicorn --keep-alive, 2 s", Unit: time.Second, StartTimeout: 30 * time.Second,
		Note: "racelab runs the gthread worker: the default sync worker ignores keep-alive and closes after every response"},
	{Name: Uvicorn, Package: "python3-uvicorn", Default: 5 * time.Second, Setting: "--timeout-keep-alive",
		DefaultNote: "uvicorn --timeout-keep-alive, 5 s", Unit: time.Second, StartTimeout: 30 * time.Second},
	{Name: Puma, Package: "puma", Default: 20 * time.Second, Setting: "persistent_timeout",
		DefaultNote: "Puma persistent_timeout, 20 s before 7.0 (65 s from 7.0)", Unit: time.Second, StartTimeout: 30 * time.Second},
	{Name: Tomcat, Package: "tomcat10", Default: 60 * time.Second, Setting: "keepAliveTimeout",
		DefaultNote: "Tomcat keepAliveTimeout = connectionTimeout, 60 s when server.xml sets neither (the stock server.xml sets 20 s)",
		Unit:        time.Millisecond, StartTimeout: 90 * time.Second},
	{Name: Apache, Package: "apache2", Default: 5 * time.Second, Setting: "KeepAliveTimeout",
		DefaultNote: "Apache httpd KeepAliveTimeout, 5 s", Unit: time.Millisecond, StartTimeout: 30 * time.Second,
		Note: "racelab answers with mod_status (event MPM) so no file needs to be readable by the server's user"},
	{Name: Nginx, Package: "nginx", Default: 75 * time.Second, Setting: "keepalive_timeout",
		DefaultNote: "nginx keepalive_timeout, 75 s", Unit: time.Millisecond, StartTimeout: 30 * time.Second},
}

// Runtimes returns every runtime, in a fixed order.
func Runtimes() []Runtime { return append([]Runtime(nil), runtimes...) }

// Lookup returns the runtime called name.
func Lookup(name string) (Runtime, bool) {
	for _, r := range runtimes {
		if string(r.Name) == name {
			return r, true
		}
	}
	return Runtime{}, false
}

// Names lists the runtimes' names: "node, gunicorn, ...".
func Names() string {
	var s []string
	for _, r := range runtimes {
		s = append(s, string(r.Name))
	}
	return strings.Join(s, ", ")
}

// KeepAlive is the value a keep-alive d becomes in the runtime's unit:
// rounded up to a whole unit, at least one.
func (r Runtime) KeepAlive(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	n := (d + r.Unit - 1) / r.Unit
	return max(n, 1) * r.Unit
}

// Available reports whether the runtime is installed here; the error
// names the Debian package to install.
func Available(name Name) error {
	r, ok := Lookup(string(name))
	if !ok {
		return fmt.Errorf("unknown runtime %q: want one of %s", name, Names())
	}
	a := adapter{rt: r}
	if _, err := exec.LookPath(a.Binary()); err != nil {
		return fmt.Errorf("runtime %s: %s not found (install the Debian package %s): %w", name, a.Binary(), r.Package, err)
	}
	switch name {
	case Uvicorn:
		if err := exec.Command(a.Binary(), "-c", "import uvicorn").Run(); err != nil {
			return fmt.Errorf("runtime uvicorn: %s cannot import uvicorn (install the Debian package python3-uvicorn): %w", a.Binary(), err)
		}
	case Tomcat:
		if _, err := os.Stat(tomcatHome + "/bin/bootstrap.jar"); err != nil {
			return fmt.Errorf("runtime tomcat: %w (install the Debian package tomcat10)", err)
		}
	}
	return nil
}

// Spec is a server to start.
type Spec struct {
	Name Name
	// KeepAlive is the keep-alive idle timeout to configure, rounded up
	// to the runtime's unit; 0 leaves the runtime's default.
	KeepAlive time.Duration
	// Listen is the loopback address to listen on ("": a free port).
	Listen string
}

// Server is a running runtime.
type Server struct {
	rt   Runtime
	spec Spec
	p    *process.Proxy
}

// Option configures Start.
type Option = process.Option

// Start renders the runtime's application and configuration into a fresh
// 0700 temporary directory, starts the server in its own process group,
// and returns once it has answered a request and logged it. On error the
// server has been stopped already; the partial *Server is returned beside
// the error and its Stop is safe.
func Start(ctx context.Context, spec Spec, opts ...Option) (*Server, error) {
	rt, ok := Lookup(string(spec.Name))
	if !ok {
		return nil, fmt.Errorf("start runtime: unknown runtime %q: want one of %s", spec.Name, Names())
	}
	if spec.KeepAlive < 0 {
		return nil, errors.New("start runtime: keep-alive must not be negative")
	}
	spec.KeepAlive = rt.KeepAlive(spec.KeepAlive)
	if spec.Listen == "" {
		addr, err := freeAddr()
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", spec.Name, err)
		}
		spec.Listen = addr
	}
	a := adapter{rt: rt}
	opts = append([]Option{process.WithStartTimeout(rt.StartTimeout)}, opts...)
	p, err := process.Start(ctx, a, proxies.Spec{Kind: a.Kind(), Listen: spec.Listen, Upstream: spec.Listen,
		IdleTimeout: spec.KeepAlive, Retry: proxies.RetryOff}, opts...)
	s := &Server{rt: rt, spec: spec, p: p}
	if err != nil {
		return s, err
	}
	if err := s.ready(ctx); err != nil {
		return s, errors.Join(fmt.Errorf("start %s: %w", spec.Name, err), s.Stop(context.Background()))
	}
	return s, nil
}

// ready sends requests until one is answered and logged.
func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.rt.StartTimeout)
	defer cancel()
	var last error
	for i := 0; ; i++ {
		id := fmt.Sprintf("racelab-ready-%d", i)
		status, err := get(ctx, s.spec.Listen, id)
		if err == nil && status == 200 {
			if _, err := s.p.Evidence().Wait(ctx, id, "access"); err != nil {
				return fmt.Errorf("answered %s but logged no line for it: %w; last output: %s", id, err, strings.Join(s.p.Logs(), " | "))
			}
			return nil
		}
		last = err
		if err == nil {
			last = fmt.Errorf("status %d", status)
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("no answer to a request (last: %v); last output: %s", last, strings.Join(s.p.Logs(), " | "))
		case <-s.p.Exited():
			t.Stop()
			return fmt.Errorf("exited; last output: %s", strings.Join(s.p.Logs(), " | "))
		case <-t.C:
		}
	}
}

// Runtime is what racelab knows of the server's runtime.
func (s *Server) Runtime() Runtime { return s.rt }

// KeepAlive is the keep-alive racelab configured (0: the default).
func (s *Server) KeepAlive() time.Duration { return s.spec.KeepAlive }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.spec.Listen }

// URL is http://Addr/.
func (s *Server) URL() string { return "http://" + s.spec.Listen + "/" }

// Version is the runtime's version.
func (s *Server) Version() string {
	if s == nil || s.p == nil {
		return ""
	}
	return s.p.Version()
}

// Executions counts the request lines the server logged for request id:
// how many times the application ran for it.
func (s *Server) Executions(id string) int {
	return len(s.p.Evidence().ForRequest(id))
}

// Evidence holds the server's request lines by request id.
func (s *Server) Evidence() *proxies.EvidenceLog { return s.p.Evidence() }

// Info is manifest facts: binary, pid, dir, version, runtime and the
// keep-alive configured.
func (s *Server) Info() map[string]string {
	info := map[string]string{"runtime": string(s.rt.Name)}
	if s.p != nil {
		for k, v := range s.p.Info() {
			info[k] = v
		}
	}
	info["keepalive"] = "default"
	if s.spec.KeepAlive > 0 {
		info["keepalive"] = s.spec.KeepAlive.String()
	}
	return info
}

// PID is the server's process (and process group) id.
func (s *Server) PID() int { return s.p.PID() }

// Logs are the server's last output lines.
func (s *Server) Logs() []string { return s.p.Logs() }

// Stop stops the server's process group and removes its directory;
// idempotent, safe on a partial or nil Server.
func (s *Server) Stop(ctx context.Context) error {
	if s == nil || s.p == nil {
		return nil
	}
	if err := s.p.Stop(ctx); err != nil {
		return fmt.Errorf("stop %s: %w", s.rt.Name, err)
	}
	return nil
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// get sends one GET /r/<id> on a fresh connection that it closes.
func get(ctx context.Context, addr, id string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	if _, err := fmt.Fprintf(c, "GET /r/%s HTTP/1.1\r\nHost: racelab\r\nConnection: close\r\n\r\n", id); err != nil {
		return 0, err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if n < 12 {
		return 0, fmt.Errorf("short answer: %q: %v", buf[:n], err)
	}
	var code int
	if _, err := fmt.Sscanf(string(buf[9:12]), "%d", &code); err != nil {
		return 0, fmt.Errorf("not HTTP: %q", buf[:n])
	}
	return code, nil
}

// Get sends one GET /r/<id> to addr on a fresh connection and fails
// unless the answer is 200.
func Get(ctx context.Context, addr, id string) error {
	status, err := get(ctx, addr, id)
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("GET /r/%s: status %d", id, status)
	}
	return nil
}
