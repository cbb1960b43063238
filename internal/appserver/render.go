package appserver

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/racelab/racelab/backends"
	"github.com/racelab/racelab/proxies"
)

// adapter renders one runtime's application for package process.
type adapter struct{ rt Runtime }

func (a adapter) Kind() proxies.Kind { return proxies.Kind("runtime-" + string(a.rt.Name)) }

func (a adapter) Binary() string {
	switch a.rt.Name {
	case Node:
		return "node"
	case Gunicorn:
		return "gunicorn"
	case Uvicorn:
		// Debian's interpreter: another python3 on PATH may lack uvicorn.
		return "/usr/bin/python3"
	case Puma:
		return "puma"
	case Tomcat:
		return "java"
	case Apache:
		return "apache2"
	case Nginx:
		return "nginx"
	}
	return ""
}

func (a adapter) VersionArgs() []string {
	switch a.rt.Name {
	case Node, Gunicorn, Puma:
		return []string{"--version"}
	case Uvicorn:
		return []string{"-m", "uvicorn", "--version"}
	case Tomcat:
		return []string{"-cp", tomcatHome + "/lib/catalina.jar:" + tomcatHome + "/lib/tomcat-util.jar", "org.apache.catalina.util.ServerInfo"}
	case Apache, Nginx:
		return []string{"-v"}
	}
	return nil
}

var versionPatterns = map[Name]*regexp.Regexp{
	Node:     regexp.MustCompile(`v(\d+\.\d+\.\d+)`),
	Gunicorn: regexp.MustCompile(`gunicorn \(version (\S+)\)`),
	Uvicorn:  regexp.MustCompile(`uvicorn (\S+)`),
	Puma:     regexp.MustCompile(`puma version (\S+)`),
	Tomcat:   regexp.MustCompile(`Apache Tomcat/(\S+)`),
	Apache:   regexp.MustCompile(`Apache/(\S+)`),
	Nginx:    regexp.MustCompile(`nginx/(\S+)`),
}

func (a adapter) ParseVersion(out string) (string, error) {
	m := versionPatterns[a.rt.Name].FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("no %s version in %q", a.rt.Name, strings.TrimSpace(out))
	}
	return m[1], nil
}

// ParseLog reads a request line: LogPrefix, then the method and the
// request target (Apache and Tomcat log the whole request line).
func (a adapter) ParseLog(line string) (proxies.Evidence, bool) {
	i := strings.Index(line, LogPrefix)
	if i < 0 {
		return proxies.Evidence{}, false
	}
	for _, f := range strings.Fields(line[i+len(LogPrefix):]) {
		if u, err := url.QueryUnescape(f); err == nil {
			f = u // Tomcat's rewrite escapes the path it moved to the query
		}
		if id := backends.RequestIDFromPath(f); id != "" {
			return proxies.Evidence{Source: "access", RequestID: id, Status: 200}, true
		}
	}
	return proxies.Evidence{}, false
}

func (a adapter) StopSignal() os.Signal {
	if a.rt.Name == Gunicorn {
		return syscall.SIGINT // quick shutdown; TERM waits out graceful_timeout
	}
	return syscall.SIGTERM
}

func (a adapter) Image(string) string { return "" }

// Render writes the application and configuration for spec.Listen with
// keep-alive spec.IdleTimeout (0: the runtime's default).
func (a adapter) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	host, port, err := net.SplitHostPort(spec.Listen)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", a.rt.Name, err)
	}
	ka := spec.IdleTimeout
	b := &proxies.Bundle{Dir: dir, Files: map[string]string{}}
	switch a.rt.Name {
	case Node:
		b.Files["server.js"] = nodeApp
		b.Args = []string{dir + "/server.js", host, port}
		if ka > 0 {
			b.Args = append(b.Args, fmt.Sprint(ka.Milliseconds()))
		}
	case Gunicorn:
		b.Files["app.py"] = wsgiApp
		b.Args = []string{"--worker-class", "gthread", "--workers", "1", "--threads", "4", "--bind", spec.Listen,
			"--chdir", dir, "--error-logfile", "-", "--worker-tmp-dir", dir}
		if ka > 0 {
			b.Args = append(b.Args, "--keep-alive", fmt.Sprint(int(ka/time.Second)))
		}
		b.Args = append(b.Args, "app:app")
	case Uvicorn:
		b.Files["app.py"] = asgiApp
		b.Args = []string{"-m", "uvicorn", "--host", host, "--port", port, "--app-dir", dir,
			"--no-access-log", "--lifespan", "off", "--workers", "1"}
		if ka > 0 {
			b.Args = append(b.Args, "--timeout-keep-alive", fmt.Sprint(int(ka/time.Second)))
		}
		b.Args = append(b.Args, "app:app")
	case Puma:
		b.Files["config.ru"] = rackApp
		conf := fmt.Sprintf("bind \"tcp://%s\"\nthreads 1, 4\nworkers 0\nenvironment \"production\"\npidfile \"%s/puma.pid\"\n", spec.Listen, dir)
		if ka > 0 {
			conf += fmt.Sprintf("persistent_timeout %d\n", int(ka/time.Second))
		}
		b.Files["puma.rb"] = conf
		b.Args = []string{"-C", dir + "/puma.rb", dir + "/config.ru"}
	case Tomcat:
		kaAttr := ""
		if ka > 0 {
			kaAttr = fmt.Sprintf(` keepAliveTimeout="%d"`, ka.Milliseconds())
		}
		b.Files["conf/server.xml"] = fmt.Sprintf(tomcatServerXML, port, host, kaAttr)
		b.Files["conf/web.xml"] = tomcatWebXML
		b.Files["conf/Catalina/localhost/rewrite.config"] = "RewriteRule ^(.*)$ /ok.txt?path=$1 [L]\n"
		b.Files["webapps/ROOT/ok.txt"] = "ok\n"
		b.Dirs = []string{"logs", "temp", "work"}
		b.Args = []string{"-Djava.awt.headless=true", "-Xss512k", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
			"-cp", tomcatHome + "/bin/bootstrap.jar:" + tomcatHome + "/bin/tomcat-juli.jar",
			"-Dcatalina.home=" + tomcatHome, "-Dcatalina.base=" + dir, "-Djava.io.tmpdir=" + dir + "/temp",
			"org.apache.catalina.startup.Bootstrap", "start"}
	case Apache:
		conf := fmt.Sprintf(apacheConf, dir, dir, dir, spec.Listen)
		if os.Geteuid() == 0 {
			conf += "User www-data\nGroup www-data\n"
		}
		if ka > 0 {
			conf += fmt.Sprintf("KeepAliveTimeout %dms\n", ka.Milliseconds())
		}
		b.Files["httpd.conf"] = conf
		b.Dirs = []string{"run"}
		b.Args = []string{"-d", dir, "-f", dir + "/httpd.conf", "-DFOREGROUND"}
		b.ValidateArgs = []string{"-d", dir, "-f", dir + "/httpd.conf", "-t"}
	case Nginx:
		kaLine := ""
		if ka > 0 {
			kaLine = fmt.Sprintf("keepalive_timeout %dms;", ka.Milliseconds())
		}
		b.Files["nginx.conf"] = fmt.Sprintf(nginxConf, dir, dir, dir, dir, dir, dir, spec.Listen, kaLine)
		b.Dirs = []string{"tmp"}
		b.Args = []string{"-p", dir, "-c", dir + "/nginx.conf", "-e", "stderr"}
		b.ValidateArgs = []string{"-p", dir, "-c", dir + "/nginx.conf", "-e", "stderr", "-t"}
	default:
		return nil, fmt.Errorf("render: unknown runtime %q", a.rt.Name)
	}
	return b, nil
}

// Every application answers 200 "ok\n" after reading the whole request
// and writes LogPrefix, the method and the request target, one line per
// request, flushed.
const nodeApp = `const http = require("http");
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    console.log("racelab-request " + req.method + " " + req.url);
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": "3" });
    res.end("ok\n");
  });
});
if (process.argv[4]) server.keepAliveTimeout = Number(process.argv[4]);
server.listen(Number(process.argv[3]), process.argv[2]);
`

const wsgiApp = `import sys

def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    sys.stdout.write("racelab-request %s %s\n" % (environ["REQUEST_METHOD"], environ.get("RAW_URI") or environ.get("PATH_INFO", "")))
    sys.stdout.flush()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]
`

const asgiApp = `async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    print("racelab-request", scope["method"], scope.get("raw_path", b"").decode() or scope["path"], flush=True)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"ok\n"})
`

const rackApp = `$stdout.sync = true
run lambda { |env|
  env["rack.input"].read if env["rack.input"]
  $stdout.puts "racelab-request #{env["REQUEST_METHOD"]} #{env["REQUEST_URI"] || env["PATH_INFO"]}"
  [200, { "Content-Type" => "text/plain", "Content-Length" => "3" }, ["ok\n"]]
}
`

// tomcatServerXML: port, address, keep-alive attribute. No shutdown port;
// the rewrite valve sends every path to one static file (the original
// path in the query string, which the access log writes), so no JSP (and
// no Java compiler) is needed; the access log goes to standard output.
const tomcatServerXML = `<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="%s" address="%s" protocol="HTTP/1.1"%s />
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false" autoDeploy="false">
        <Valve className="org.apache.catalina.valves.rewrite.RewriteValve" />
        <Valve className="org.apache.catalina.valves.AccessLogValve" directory="/dev" prefix="stdout" suffix=""
               rotatable="false" buffered="false" pattern="racelab-request %%m %%q" />
      </Host>
    </Engine>
  </Service>
</Server>
`

const tomcatWebXML = `<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="https://jakarta.ee/xml/ns/jakartaee" version="6.0">
  <servlet>
    <servlet-name>default</servlet-name>
    <servlet-class>org.apache.catalina.servlets.DefaultServlet</servlet-class>
    <load-on-startup>1</load-on-startup>
  </servlet>
  <servlet-mapping>
    <servlet-name>default</servlet-name>
    <url-pattern>/</url-pattern>
  </servlet-mapping>
</web-app>
`

// apacheConf: ServerRoot, PidFile dir, runtime dir, listen address.
const apacheConf = `ServerRoot "%s"
PidFile "%s/run/httpd.pid"
DefaultRuntimeDir "%s/run"
Listen %s
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule status_module /usr/lib/apache2/modules/mod_status.so
ServerName localhost
ErrorLog /dev/stderr
LogLevel warn
LogFormat "racelab-request %%r" racelab
CustomLog /dev/stdout racelab
KeepAlive On
StartServers 1
ServerLimit 1
ThreadsPerChild 8
MaxRequestWorkers 8
<Location "/">
  SetHandler server-status
</Location>
`

// nginxConf: pid dir, five temp paths, listen address, keep-alive line.
const nginxConf = `daemon off;
master_process on;
worker_processes 1;
pid %s/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
  client_body_temp_path %s/tmp/body;
  proxy_temp_path %s/tmp/proxy;
  fastcgi_temp_path %s/tmp/fastcgi;
  uwsgi_temp_path %s/tmp/uwsgi;
  scgi_temp_path %s/tmp/scgi;
  log_format racelab 'racelab-request $request';
  access_log /dev/stdout racelab;
  server {
    listen %s;
    %s
    location / {
      default_type text/plain;
      return 200 "ok\n";
    }
  }
}
`
