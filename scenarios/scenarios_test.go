package scenarios

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/racelab/racelab/results"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{"60s": time.Minute, "1500ms": 1500 * time.Millisecond, "-1s": -time.Second, "250us": 250 * time.Microsecond, "0": 0}
	for in, want := range good {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, wantMsg := range map[string]string{"60": "write 60s", "1.5": "write 1.5s", "": "empty", "5 seconds": "want a number with a unit"} {
		_, err := ParseDuration(in)
		if err == nil || !strings.Contains(err.Error(), wantMsg) {
			t.Errorf("ParseDuration(%q) error = %v; want it to say %q", in, err, wantMsg)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", time.Minute: "1m", 90 * time.Second: "90s", 1500 * time.Millisecond: "1.5s", -9 * time.Second: "-9s", 250 * time.Microsecond: "250us", 110 * time.Millisecond: "110ms"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// Every problem is reported at once, each with line:col.
func TestLoadReportsEveryProblemWithPosition(t *testing.T) {
	src := `name: bad
timescale: 0.5
base:
  proxy_idel: 10s
  backend_keepalive: 60
  retry: sometimes
  proxy: {kind: lighttpd}
matrix:
  method: [GET, post]
expect:
  - where: {nope: x}
    failure_rate: ">0"
`
	_, err := Load([]byte(src), "bad.yaml")
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("want Problems, got %v", err)
	}
	text := err.Error()
	semantic := []string{
		`bad.yaml:6:10: base.retry: retry "sometimes": want off, idempotent or all`,
		`bad.yaml:7:17: base.proxy.kind: proxy kind "lighttpd"`,
		`bad.yaml:9:17: matrix.method[1]: method "post"`,
		`bad.yaml:11:13: expect[0].where.nope: unknown parameter "nope"`,
	}
	for _, want := range append([]string{
		`bad.yaml:4:3: base: unknown field "proxy_idel" (did you mean "proxy_idle"?)`,
		`bad.yaml:5:22: base.backend_keepalive: duration 60 has no unit: write 60s (or 60ms)`,
	}, semantic...) {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	// Decoding and semantic problems come in one pass; fix the decoding
	// ones and the semantic ones remain, again positioned.
	src = strings.Replace(strings.Replace(src, "proxy_idel", "proxy_idle", 1), ": 60\n", ": 60s\n", 1)
	_, err = Load([]byte(src), "bad.yaml")
	text = err.Error()
	if strings.Contains(text, "proxy_idel") || strings.Contains(text, "no unit") {
		t.Errorf("fixed problems still reported:\n%s", text)
	}
	for _, want := range semantic {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
}

func TestLoadRejectsWrongShapes(t *testing.T) {
	for src, want := range map[string]string{
		"":                                "empty scenario",
		"name: x\nbase: [1]\n":            "2:7: base: want a mapping",
		"name: x\nmatrix: {retry: off}\n": "2:17: matrix.retry: want a list",
		"name: x\n---\nname: y\n":         "more than one YAML document",
		"name: x\nname: y\n":              "field given twice",
		"name: x\nbase: {trials: many}\n": `2:16: base.trials: got "many", want a whole number`,
		"name: x\nbase: {margin: 1s, backend_keepalive: 2s}\n": "not both",
	} {
		_, err := Load([]byte(src), "f.yaml")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(%q) = %v; want an error containing %q", src, err, want)
		}
	}
}

func TestExpansionOrderIDsAndTimescale(t *testing.T) {
	src := `name: m
timescale: 0.1
base:
  proxy_idle: 10s
  trials: 3
matrix:
  margin: [-9s, 2s]
  retry: [off, idempotent]
  method: [GET, POST]
`
	sc, err := Load([]byte(src), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cells, err := sc.Cells()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cells {
		ids = append(ids, c.ID)
	}
	want := "-9s.off.GET -9s.off.POST -9s.idempotent.GET -9s.idempotent.POST 2s.off.GET 2s.off.POST 2s.idempotent.GET 2s.idempotent.POST"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("cell order:\n got %s\nwant %s", got, want)
	}
	c := cells[0]
	if c.ProxyIdle != time.Second || c.BackendKeepAlive != 100*time.Millisecond || c.Margin != -900*time.Millisecond {
		t.Errorf("scaled durations: idle %v keepalive %v margin %v", c.ProxyIdle, c.BackendKeepAlive, c.Margin)
	}
	if c.Params["margin"] != "-9s" || c.Params["backend_keepalive"] != "1s" {
		t.Errorf("params must carry the scenario's own values: %v", c.Params)
	}
	// The auto gap sits between the two timeouts when the backend closes
	// first, and past the backend's keep-alive when it does not.
	if c.Gap != 550*time.Millisecond || !c.FaultArmed(c.Gap) {
		t.Errorf("broken cell gap %v armed %v", c.Gap, c.FaultArmed(c.Gap))
	}
	fixed := cells[4]
	if fixed.Gap <= fixed.BackendKeepAlive || !fixed.FaultArmed(fixed.Gap) {
		t.Errorf("fixed cell gap %v must be past keep-alive %v", fixed.Gap, fixed.BackendKeepAlive)
	}
	// Same scenario, same cells: expansion is deterministic.
	again, _ := sc.Cells()
	for i := range cells {
		if again[i].ID != cells[i].ID || again[i].Index != i {
			t.Fatalf("expansion not deterministic at %d", i)
		}
	}
}

func TestTimingValidation(t *testing.T) {
	src := "name: t\nbase:\n  mode: timing\n  proxy_idle: 50ms\n  backend_keepalive: 50ms\n  gap: 1s\n"
	_, err := Load([]byte(src), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "above backend_keepalive + the largest offset") || !strings.Contains(err.Error(), "gap is for mode deterministic") {
		t.Fatalf("got %v", err)
	}
	ok := "name: t\nbase:\n  mode: timing\n  proxy_idle: 500ms\n  backend_keepalive: 50ms\n  sweep: {from: -1ms, to: 1ms, step: 500us}\n"
	sc, err := Load([]byte(ok), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cells, _ := sc.Cells()
	if got := len(cells[0].Offsets); got != 5 {
		t.Errorf("sweep gave %d offsets, want 5", got)
	}
}

func TestBuiltinsLoad(t *testing.T) {
	names := Builtin()
	if len(names) < 2 {
		t.Fatalf("built-ins: %v", names)
	}
	for _, n := range names {
		sc, err := LoadBuiltin(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if sc.Name != n {
			t.Errorf("built-in %s is named %q", n, sc.Name)
		}
		if len(sc.Expect) == 0 {
			t.Errorf("built-in %s has no expectations", n)
		}
	}
	if _, err := LoadBuiltin("nope"); err == nil {
		t.Error("unknown built-in loaded")
	}
}

func TestEvaluate(t *testing.T) {
	sums := []results.Summary{
		{Cell: "a", Params: map[string]string{"margin": "-9s", "retry": "off"}, Trials: 10, Failures: 10, Attributed: 10, FailureRate: 1},
		{Cell: "b", Params: map[string]string{"margin": "2s", "retry": "off"}, Trials: 10, Failures: 1, Attributed: 0, FailureRate: 0.1},
	}
	exps := []Expectation{
		{Name: "race", Where: map[string]string{"margin": "<0"}, FailureRate: ">0", Attributed: "==1"},
		{Name: "fix", Where: map[string]string{"margin": ">=2s"}, FailureRate: "0"},
		{Name: "none", Where: map[string]string{"retry": "[all]"}, FailureRate: "0"},
	}
	vs := Evaluate(exps, sums)
	if len(vs) != 3 {
		t.Fatalf("verdicts: %+v", vs)
	}
	if !vs[0].Pass || vs[0].Cell != "a" {
		t.Errorf("race verdict: %+v", vs[0])
	}
	if vs[1].Pass || !strings.Contains(vs[1].Message, "cell b") || !strings.Contains(vs[1].Message, "expected 0, measured 1/10") {
		t.Errorf("fix verdict must fail naming the cell and numbers: %+v", vs[1])
	}
	if vs[2].Pass || !strings.Contains(vs[2].Message, "no cell matches") {
		t.Errorf("an expectation that matches nothing must fail: %+v", vs[2])
	}
	// "![a, b]" selects every value but those.
	vs = Evaluate([]Expectation{
		{Name: "not off", Where: map[string]string{"retry": "![off, all]"}, FailureRate: "0"},
		{Name: "not idempotent", Where: map[string]string{"retry": "![idempotent]"}, FailureRate: ">0"},
	}, sums)
	if len(vs) != 3 || vs[0].Pass || !strings.Contains(vs[0].Message, "no cell matches") {
		t.Fatalf("![off, all] must select neither cell: %+v", vs)
	}
	if !vs[1].Pass || vs[1].Cell != "a" || !vs[2].Pass || vs[2].Cell != "b" {
		t.Errorf("![idempotent] must select both cells: %+v", vs[1:])
	}
}
