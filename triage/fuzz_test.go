package triage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParsers feeds one arbitrary line to every format's parser. A line
// either parses into a consistent entry or is an error (unparsed); it
// never panics, and a 5xx never goes unclassified.
func FuzzParsers(f *testing.F) {
	for _, name := range []string{"alb", "gclb", "envoy", "haproxy", "caddy"} {
		data, err := os.ReadFile(filepath.Join("testdata", "written", name+".log"))
		if err != nil {
			f.Fatal(err)
		}
		for _, l := range strings.Split(string(data), "\n")[:6] {
			f.Add(l)
		}
	}
	for _, dir := range []string{"nginx-race", "nginx-controls"} {
		for _, file := range []string{"access.log", "error.log"} {
			data, _ := os.ReadFile(filepath.Join("testdata", dir, file))
			for _, l := range strings.Split(string(data), "\n")[:3] {
				f.Add(l)
			}
		}
	}
	f.Add(`127.0.0.1 - - [05/Dec/2026:23:40:25 +0000] "GET /\" 502 1 HTTP/1.1" 502 157 "-" "x"`)
	f.Add(`[2026-12-05T10:00:00.200Z] "GET / HTTP/1.1" 503 UC,URX "`)
	f.Fuzz(func(t *testing.T, line string) {
		errs := newNginxErrors()
		er := &nginxErrorReader{errs: errs}
		_ = er.parse([]byte(line), &Entry{})
		for _, p := range []parser{&nginxAccess{errs: errs}, haproxyParser{}, envoyParser{}, albParser{}, gclbParser{}, newCaddyParser()} {
			var e Entry
			if err := p.parse([]byte(line), &e); err != nil {
				continue
			}
			switch {
			case e.Class == "":
				// Evidence lines (Caddy's error logger) carry no class.
			case e.Status < 500 && e.Class != ClassOK:
				t.Fatalf("%T: status %d classified %s", p, e.Status, e.Class)
			case e.Status >= 500 && (e.Class == ClassOK || e.Field == ""):
				t.Fatalf("%T: status %d classified %q with field %q", p, e.Status, e.Class, e.Field)
			}
		}
		_, _ = sniffLine([]byte(line + "x"))
	})
}

// FuzzAnalyze runs whole inputs through Analyze in every format: every
// non-blank line is accounted for as a request, an unparsed line or an
// evidence (error-log) line, whatever the bytes.
func FuzzAnalyze(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "nginx-controls", "error.log"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(data[:400]) + "\n" + `127.0.0.1 - - [05/Dec/2026:23:43:09 +0000] "GET /r/0-2-v HTTP/1.1" 502 157 "-" "racelab"` + "\n")
	f.Add("\x1f\x8b garbage")
	f.Add("\n\n\r\n{\"ts\":1,\"level\":\"x\"}\n")
	f.Fuzz(func(t *testing.T, in string) {
		path := filepath.Join(t.TempDir(), "in.log")
		if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
			t.Fatal(err)
		}
		want := 0
		for _, l := range strings.Split(in, "\n") {
			if strings.TrimSpace(strings.TrimRight(l, "\r")) != "" {
				want++
			}
		}
		for _, format := range Formats {
			rep, err := Analyze(t.Context(), []string{path}, WithFormat(format))
			if rep == nil {
				continue // unreadable (a broken gzip header) or no format to sniff
			}
			if got := rep.Lines + rep.Unparsed + rep.ErrorLines; got != want {
				t.Fatalf("%s: %d lines accounted for (%d requests, %d unparsed, %d evidence), want %d (err %v)",
					format, got, rep.Lines, rep.Unparsed, rep.ErrorLines, want, err)
			}
			if rep.Lines == 0 && err == nil {
				t.Fatalf("%s: no request parsed and no error", format)
			}
		}
	})
}
