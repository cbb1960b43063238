package triage

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/scenarios"
)

// classes analyses paths and returns every request line's entry.
func classes(t *testing.T, format Format, paths ...string) (*Report, []Entry) {
	t.Helper()
	var got []Entry
	rep, err := Analyze(context.Background(), paths, WithFormat(format), WithEntries(func(e Entry) { got = append(got, e) }))
	if err != nil {
		t.Fatalf("Analyze(%v): %v", paths, err)
	}
	return rep, got
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}

func within10(t *testing.T, rep *Report, want time.Duration) {
	t.Helper()
	if rep.KeepAlive == nil {
		t.Fatalf("no keep-alive estimate; want about %v", want)
	}
	got := rep.KeepAlive.Value
	if diff := got - want; diff > want/10 || diff < -want/10 {
		t.Errorf("estimated keep-alive %v, want %v ± 10%%", got, want)
	}
}

// The written fixtures: every documented format, line for line.
func TestWrittenFixtures(t *testing.T) {
	for _, name := range []string{"alb", "gclb", "envoy", "haproxy", "caddy"} {
		t.Run(name, func(t *testing.T) {
			log := filepath.Join("testdata", "written", name+".log")
			want := readLines(t, filepath.Join("testdata", "written", name+".want"))
			for _, format := range []Format{Format(name), FormatAuto} {
				rep, got := classes(t, format, log)
				if rep.Unparsed != 0 {
					t.Errorf("%s: %d unparsed: %v", format, rep.Unparsed, rep.Examples)
				}
				if len(got) != len(want) {
					t.Fatalf("%s: %d request lines, want %d", format, len(got), len(want))
				}
				for i, e := range got {
					if string(e.Class) != want[i] {
						t.Errorf("%s:%d: class %s (%s), want %s", format, e.Line, e.Class, e.Field, want[i])
					}
					if e.Status >= 500 && e.Field == "" {
						t.Errorf("%s:%d: a %d with no field", format, e.Line, e.Status)
					}
				}
				if rep.Race != 12 || rep.Backend5xx != 2 || rep.Timeouts != 2 || rep.Capacity != 2 || rep.Total5xx != 18 {
					t.Errorf("%s: counts race %d backend %d timeouts %d capacity %d total %d", format, rep.Race, rep.Backend5xx, rep.Timeouts, rep.Capacity, rep.Total5xx)
				}
				if name == "caddy" {
					// Caddy's access log names no upstream: one pool, and
					// the two targets' requests interleave.
					if rep.Targets != 1 {
						t.Errorf("caddy: %d targets, want 1", rep.Targets)
					}
					continue
				}
				within10(t, rep, 5*time.Second)
				if rep.KeepAlive.Strength != "strong" {
					t.Errorf("%s: strength %s (%s), want strong", format, rep.KeepAlive.Strength, rep.KeepAlive.Why)
				}
			}
		})
	}
}

var requestID = regexp.MustCompile(`"[A-Z]+ /r/([^ ]+) HTTP`)

// record is the part of a racelab results line the fixtures check.
type record struct {
	Type       string `json:"type"`
	Cell       string `json:"cell"`
	RequestID  string `json:"request_id"`
	Status     int    `json:"status"`
	Outcome    string `json:"outcome"`
	Attributed bool   `json:"attributed"`
}

// labClass is the class the lab's own record gives a trial.
func labClass(r record) Class {
	switch {
	case r.Outcome == "ok":
		return ClassOK
	case r.Attributed:
		return ClassRace
	case r.Outcome == "backend_5xx":
		return ClassBackend
	case r.Outcome == "proxy_504":
		return ClassTimeout
	}
	return ClassOther
}

// The nginx fixtures come from racelab runs (testdata/gen): triage, reading
// only the stock combined access log and the error log, must agree with
// the run's records line for line.
func TestNginxRunFixtures(t *testing.T) {
	for _, tc := range []struct {
		dir       string
		keepAlive time.Duration // the run's backend keep-alive, when the estimate is meaningful
	}{
		{"nginx-race", 0},
		{"nginx-controls", 0},
		{"nginx-timing", 10 * time.Second},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", tc.dir)
			records := map[string]record{}
			cellOf := map[string]string{}
			for _, l := range readLines(t, filepath.Join(dir, "results.jsonl")) {
				var r record
				if err := json.Unmarshal([]byte(l), &r); err != nil {
					t.Fatal(err)
				}
				if r.Type == "trial" {
					records[r.RequestID] = r
					cellOf[r.RequestID] = r.Cell
				}
			}
			access := filepath.Join(dir, "access.log")
			lines := readLines(t, access)
			// The error log is given second: Analyze reads it first anyway.
			rep, got := classes(t, FormatNginx, access, filepath.Join(dir, "error.log"))
			if rep.Unparsed != 0 {
				t.Errorf("%d unparsed: %v", rep.Unparsed, rep.Examples)
			}
			if len(got) != len(lines) {
				t.Fatalf("%d request lines, want %d", len(got), len(lines))
			}
			seen := 0
			for _, e := range got {
				m := requestID.FindStringSubmatch(lines[e.Line-1])
				if m == nil {
					t.Fatalf("%s:%d: no request id", access, e.Line)
				}
				r, ok := records[m[1]]
				if !ok {
					// Readiness and priming requests: not trials. None is
					// the race.
					if e.Class == ClassRace {
						t.Errorf("%s:%d: %s (not a trial) classified as the race: %s", access, e.Line, m[1], e.Field)
					}
					continue
				}
				seen++
				if want := labClass(r); e.Class != want {
					t.Errorf("%s:%d: trial %s (%s, attributed %v): triage says %s (%s), the record %s",
						access, e.Line, m[1], r.Outcome, r.Attributed, e.Class, e.Field, want)
				}
				if e.Status != r.Status {
					t.Errorf("%s:%d: status %d, record %d", access, e.Line, e.Status, r.Status)
				}
			}
			if seen != len(records) {
				t.Errorf("%d of %d trials found in the access log", seen, len(records))
			}
			if tc.dir == "nginx-controls" {
				// The negative controls: a backend 502 or 500, a dead backend
				// and a slow one never look like the race.
				for _, e := range got {
					m := requestID.FindStringSubmatch(lines[e.Line-1])
					if e.Class == ClassRace {
						t.Errorf("%s:%d: negative control %s (%s) classified as the race", access, e.Line, cellOf[m[1]], m[1])
					}
				}
				if rep.Timeouts == 0 || rep.Other == 0 || rep.Backend5xx == 0 {
					t.Errorf("controls: timeouts %d other %d backend %d, want each > 0", rep.Timeouts, rep.Other, rep.Backend5xx)
				}
			}
			if tc.keepAlive > 0 {
				within10(t, rep, tc.keepAlive)
			}
		})
	}
}

// Without the error log, nginx's 502s cannot be told apart: none is
// called the race, and the report says why.
func TestNginxWithoutErrorLog(t *testing.T) {
	rep, got := classes(t, FormatNginx, filepath.Join("testdata", "nginx-race", "access.log"))
	for _, e := range got {
		if e.Class == ClassRace {
			t.Fatalf("line %d classified as the race without an error log", e.Line)
		}
		if e.Status == 502 && !strings.Contains(e.Field, "no error log") {
			t.Errorf("line %d: field %q does not say the error log is missing", e.Line, e.Field)
		}
	}
	if rep.Other == 0 {
		t.Error("no 502 counted as other")
	}
}

func TestGzip(t *testing.T) {
	src := filepath.Join("testdata", "written", "alb.log")
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(t.TempDir(), "alb.log.gz")
	f, err := os.Create(gz)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write(data)
	zw.Close()
	f.Close()
	_, plain := classes(t, FormatAuto, src)
	_, zipped := classes(t, FormatAuto, gz)
	if len(plain) != len(zipped) || len(plain) == 0 {
		t.Fatalf("gzip: %d lines, plain %d", len(zipped), len(plain))
	}
	for i := range plain {
		if plain[i].Class != zipped[i].Class {
			t.Errorf("line %d: gzip %s, plain %s", i+1, zipped[i].Class, plain[i].Class)
		}
	}
}

// Hostile and truncated lines are counted as unparsed, never skipped and
// never a panic; input with no parsable line is an error, not a pass.
func TestHostileLines(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"alb", "gclb", "envoy", "haproxy", "caddy"} {
		lines := readLines(t, filepath.Join("testdata", "written", name+".log"))
		var b strings.Builder
		good := 0
		for i, l := range lines {
			switch i % 5 {
			case 1:
				b.WriteString(l[:len(l)/3]) // truncated
			case 3:
				b.WriteString("\x00\xff garbage \"[ { ] }")
			default:
				b.WriteString(l)
				if !strings.Contains(l, "http.log.error") {
					good++
				}
			}
			b.WriteByte('\n')
		}
		b.WriteString(strings.Repeat("x", maxLine+10) + "\n") // too long
		path := filepath.Join(dir, name+".log")
		os.WriteFile(path, []byte(b.String()), 0o600)
		rep, err := Analyze(context.Background(), []string{path}, WithFormat(Format(name)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rep.Lines+rep.Unparsed+rep.ErrorLines != len(lines)+1 {
			t.Errorf("%s: %d parsed + %d unparsed + %d error lines, want %d in all", name, rep.Lines, rep.Unparsed, rep.ErrorLines, len(lines)+1)
		}
		if rep.Unparsed < len(lines)/5 || rep.Lines < good-len(lines)/5 {
			t.Errorf("%s: %d unparsed, %d parsed: hostile lines not counted", name, rep.Unparsed, rep.Lines)
		}
		if !strings.Contains(func() string { var s strings.Builder; rep.Text(&s); return s.String() }(), "unparsed lines") {
			t.Errorf("%s: the text report does not mention unparsed lines", name)
		}
	}
	junk := filepath.Join(dir, "junk.log")
	os.WriteFile(junk, []byte("hello\nworld\n"), 0o600)
	for _, f := range []Format{FormatNginx, FormatALB, FormatHAProxy} {
		if _, err := Analyze(context.Background(), []string{junk}, WithFormat(f)); err == nil || !strings.Contains(err.Error(), "no line") {
			t.Errorf("%s on junk: err %v, want 'no line ... parsed'", f, err)
		}
	}
	if _, err := Analyze(context.Background(), []string{filepath.Join(dir, "missing.log")}); err == nil {
		t.Error("a missing file is not an error")
	}
}

func TestScenarioLoads(t *testing.T) {
	for _, tc := range []struct {
		log  string
		kind string
		idle time.Duration
	}{
		{"written/haproxy.log", "haproxy", 0},
		{"written/alb.log", "go", 60 * time.Second},
		{"nginx-timing/access.log", "nginx", 60 * time.Second},
	} {
		paths := []string{filepath.Join("testdata", tc.log)}
		if strings.HasPrefix(tc.log, "nginx") {
			paths = append(paths, filepath.Join("testdata", "nginx-timing", "error.log"))
		}
		rep, err := Analyze(context.Background(), paths, WithProxyIdle(tc.idle))
		if err != nil {
			t.Fatal(err)
		}
		data, err := rep.Scenario()
		if err != nil {
			t.Fatalf("%s: %v", tc.log, err)
		}
		sc, err := scenarios.Load(data, "emitted.yaml")
		if err != nil {
			t.Fatalf("%s: emitted scenario does not load: %v\n%s", tc.log, err, data)
		}
		if sc.Base.Proxy.Kind != tc.kind {
			t.Errorf("%s: proxy kind %q, want %q", tc.log, sc.Base.Proxy.Kind, tc.kind)
		}
		if got := time.Duration(sc.Matrix.BackendKeepAlive[0]); got != rep.KeepAlive.Value.Round(time.Millisecond) {
			t.Errorf("%s: backend_keepalive %v, want the estimate %v", tc.log, got, rep.KeepAlive.Value)
		}
		if tc.idle > 0 && time.Duration(*sc.Base.ProxyIdle) != tc.idle {
			t.Errorf("%s: proxy_idle %v, want %v", tc.log, time.Duration(*sc.Base.ProxyIdle), tc.idle)
		}
		if !strings.Contains(rep.Verdict(), "parity rule") && tc.idle > 0 {
			t.Errorf("%s: verdict states no parity rule: %s", tc.log, rep.Verdict())
		}
	}
}

func TestVerdictAndJSON(t *testing.T) {
	rep, err := Analyze(context.Background(), []string{filepath.Join("testdata", "written", "alb.log")}, WithProxyIdle(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	v := rep.Verdict()
	for _, want := range []string{"12 (66.7%)", "5000.6ms", "61000ms", "strong"} {
		if !strings.Contains(v, want) {
			t.Errorf("verdict lacks %q: %s", want, v)
		}
	}
	var b strings.Builder
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var j map[string]any
	if err := json.Unmarshal([]byte(b.String()), &j); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"lines", "unparsed", "total_5xx", "race", "backend_5xx", "timeouts", "estimated_backend_keepalive_ms"} {
		if _, ok := j[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if j["parity_ok"] != false {
		t.Errorf("parity_ok = %v, want false", j["parity_ok"])
	}
}

// The Caddy and HAProxy fixtures come from a real Caddy 2.6.2 and HAProxy
// 2.6.12 in front of a close-on-reuse loopback backend (testdata/gen):
// Caddy's access log with its own log, where the http.log.error lines go,
// and HAProxy's stock httplog.
func TestProxyRunFixtures(t *testing.T) {
	for _, tc := range []struct {
		dir    string
		access string
		more   []string
		ready  string
	}{
		{"caddy", "access.log", []string{"caddy.log"}, `"uri":"/ready"`},
		{"haproxy", "haproxy.log", nil, `"GET /ready `},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", tc.dir)
			want := readLines(t, filepath.Join(dir, "want.txt"))
			access := filepath.Join(dir, tc.access)
			lines := readLines(t, access)
			paths := []string{access}
			for _, m := range tc.more {
				paths = append(paths, filepath.Join(dir, m))
			}
			rep, got := classes(t, FormatAuto, paths...)
			if rep.Unparsed != 0 {
				t.Errorf("%d unparsed: %v", rep.Unparsed, rep.Examples)
			}
			i := 0
			for _, e := range got {
				if strings.Contains(lines[e.Line-1], tc.ready) {
					// Readiness probes, some before the backend listened.
					if e.Class == ClassRace {
						t.Errorf("%s:%d: a readiness probe classified as the race", access, e.Line)
					}
					continue
				}
				if i >= len(want) {
					t.Fatalf("more requests than want.txt lists")
				}
				if string(e.Class) != want[i] {
					t.Errorf("%s:%d: class %s (%s), want %s", access, e.Line, e.Class, e.Field, want[i])
				}
				i++
			}
			if i != len(want) || rep.Race != 6 {
				t.Errorf("%d requests matched of %d, race %d (want 6)", i, len(want), rep.Race)
			}
		})
	}
}
