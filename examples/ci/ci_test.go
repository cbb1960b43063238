package ci

import (
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"gopkg.in/yaml.v3"

	"github.com/racelab/racelab/scenarios"
)

const workflowFile = "workflow.yml"

// lint runs actionlint's own linter (its Go API, with its defaults: no
// shellcheck or pyflakes binaries) on a workflow's text.
func lint(t *testing.T, text []byte) []*actionlint.Error {
	t.Helper()
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A path that does not exist: no project settings are looked up.
	errs, err := l.Lint(".github/workflows/racelab.yml", text, nil)
	if err != nil {
		t.Fatalf("actionlint: %v", err)
	}
	return errs
}

func TestWorkflowLint(t *testing.T) {
	text, err := os.ReadFile(workflowFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range lint(t, text) {
		t.Errorf("%s:%d:%d: %s [%s]", workflowFile, e.Line, e.Column, e.Message, e.Kind)
	}

	// The linter catches what would break the pipeline: each edit below
	// must give at least one finding.
	broken := []struct{ name, old, new string }{
		{"unknown matrix key", "SHARD: ${{ matrix.shard }}", "SHARD: ${{ matrix.shrad }}"},
		{"unknown job in needs", "needs: shard", "needs: shards"},
		{"unknown action input", "merge-multiple: true", "merge-multiples: true"},
		{"bad runner expression", "if: ${{ !cancelled() }}\n    runs-on", "if: ${{ !cancelled( }}\n    runs-on"},
		{"not a workflow", "jobs:", "jbos:"},
	}
	for _, b := range broken {
		if !strings.Contains(string(text), b.old) {
			t.Fatalf("%s: the workflow no longer holds %q", b.name, b.old)
		}
		bad := strings.Replace(string(text), b.old, b.new, 1)
		if errs := lint(t, []byte(bad)); len(errs) == 0 {
			t.Errorf("%s: actionlint accepted the broken workflow", b.name)
		}
	}
}

// workflow is the part of the workflow the local run reads.
type workflow struct {
	Env  map[string]string `yaml:"env"`
	Jobs map[string]struct {
		Strategy struct {
			Matrix map[string][]int `yaml:"matrix"`
		} `yaml:"strategy"`
		Steps []step `yaml:"steps"`
	} `yaml:"jobs"`
}

type step struct {
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	Env  map[string]string `yaml:"env"`
	With map[string]any    `yaml:"with"`
}

// find returns the one step of steps that uses an action or whose run
// text holds a command; the test fails unless there is exactly one.
func find(t *testing.T, job string, steps []step, uses, run string) step {
	t.Helper()
	var got []step
	for _, s := range steps {
		if (uses != "" && strings.HasPrefix(s.Uses, uses+"@")) || (run != "" && strings.Contains(s.Run, run)) {
			got = append(got, s)
		}
	}
	if len(got) != 1 {
		t.Fatalf("job %s: %d steps with %s%s, want one", job, len(got), uses, run)
	}
	return got[0]
}

var exprRE = regexp.MustCompile(`\$\{\{\s*(.*?)\s*\}\}`)

// expand replaces the expressions the local run knows; any other is a
// test failure (the workflow grew something this test does not play).
func expand(t *testing.T, s string, vars map[string]string) string {
	t.Helper()
	return exprRE.ReplaceAllStringFunc(s, func(m string) string {
		v, ok := vars[exprRE.FindStringSubmatch(m)[1]]
		if !ok {
			t.Fatalf("expression %s: not played by the local run", m)
		}
		return v
	})
}

// binDir holds the racelab binary the steps find on PATH, built once by
// TestMain from this checkout (the workflow installs it with go install).
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "racelab-ci-")
	if err != nil {
		panic(err)
	}
	code := 1
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "racelab"), "../../cmd/racelab").CombinedOutput(); err != nil {
		os.Stderr.Write(append([]byte("go build racelab: "+err.Error()+"\n"), out...))
	} else {
		binDir = dir
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// job is one CI job's workspace: a checkout (examples/ linked in) and
// the environment its steps see.
type job struct {
	dir string
	env []string
}

func newJob(t *testing.T, repo, bin string, env map[string]string) job {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(repo, "examples"), filepath.Join(dir, "examples")); err != nil {
		t.Fatal(err)
	}
	j := job{dir: dir, env: append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))}
	for k, v := range env {
		j.env = append(j.env, k+"="+v)
	}
	return j
}

// run runs a step's run text as the runner does (bash -e), with extra
// environment, and returns its exit code and output.
func (j job) run(t *testing.T, s step, extra map[string]string) (int, string) {
	t.Helper()
	code, out, err := j.exec(s, extra)
	if err != nil {
		t.Fatalf("step %q: %v", s.Name, err)
	}
	return code, out
}

func (j job) exec(s step, extra map[string]string) (int, string, error) {
	cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", s.Run)
	cmd.Dir = j.dir
	cmd.Env = j.env
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out), nil
	}
	return 0, string(out), err
}

func with(t *testing.T, s step, key string) string {
	t.Helper()
	v, ok := s.With[key]
	if !ok {
		t.Fatalf("step %q has no with.%s", s.Name, key)
	}
	return strings.TrimSuffix(strings.TrimSpace(fmt.Sprint(v)), "/")
}

func copyFiles(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Suites   []struct {
		Cases []struct {
			Name string `xml:"name,attr"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, file string) junitDoc {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return doc
}

// TestWorkflowShardAndMerge plays the workflow on this machine: its shard
// step once per shard of its matrix, each in its own workspace, the
// uploads and the download as file copies by the paths and names the
// workflow gives, then its merge step. The merge writes one HTML report
// and one JUnit file holding every cell; a violated expectation and a
// lost shard each make the merge step fail.
func TestWorkflowShardAndMerge(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not on PATH: the workflow's steps are bash")
	}
	text, err := os.ReadFile(workflowFile)
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(text, &wf); err != nil {
		t.Fatal(err)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := binDir

	shardJob, mergeJob := wf.Jobs["shard"], wf.Jobs["merge"]
	shards := shardJob.Strategy.Matrix["shard"]
	if len(shards) < 2 {
		t.Fatalf("the shard job's matrix has %d shards", len(shards))
	}
	runShard := find(t, "shard", shardJob.Steps, "", "examples/ci/shard.sh")
	var upload step
	for _, s := range shardJob.Steps {
		if strings.HasPrefix(s.Uses, "actions/upload-artifact@") {
			upload = s
		}
	}
	download := find(t, "merge", mergeJob.Steps, "actions/download-artifact", "")
	runMerge := find(t, "merge", mergeJob.Steps, "", "examples/ci/merge.sh")
	var upReport step
	for _, s := range mergeJob.Steps {
		if strings.HasPrefix(s.Uses, "actions/upload-artifact@") {
			upReport = s
		}
	}

	// The shard jobs run at once, as on the CI system.
	artifacts := map[string]string{} // name -> directory uploaded
	type done struct {
		k, code int
		out     string
	}
	results := make(chan done, len(shards))
	for _, k := range shards {
		vars := map[string]string{"matrix.shard": strconv.Itoa(k), "strategy.job-total": strconv.Itoa(len(shards))}
		j := newJob(t, repo, bin, wf.Env)
		env := map[string]string{}
		for name, v := range runShard.Env {
			env[name] = expand(t, v, vars)
		}
		artifacts[expand(t, with(t, upload, "name"), vars)] = filepath.Join(j.dir, with(t, upload, "path"))
		go func() {
			code, out, err := j.exec(runShard, env)
			if err != nil {
				code, out = -1, err.Error()
			}
			results <- done{k, code, out}
		}()
	}
	for range shards {
		if d := <-results; d.code != 0 {
			t.Errorf("shard %d: exit %d\n%s", d.k, d.code, d.out)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	m := newJob(t, repo, bin, wf.Env)
	into := filepath.Join(m.dir, with(t, download, "path"))
	pattern := with(t, download, "pattern")
	for name, dir := range artifacts {
		if ok, _ := path.Match(pattern, name); ok {
			copyFiles(t, dir, into)
		}
	}
	if n, _ := filepath.Glob(filepath.Join(into, "*.jsonl")); len(n) != len(shards) {
		t.Fatalf("downloaded %d shard files, want %d", len(n), len(shards))
	}
	code, out := m.run(t, runMerge, nil)
	if code != 0 {
		t.Fatalf("merge: exit %d\n%s", code, out)
	}

	sc, err := scenarios.LoadFile(filepath.Join(repo, wf.Env["RACELAB_SCENARIO"]))
	if err != nil {
		t.Fatal(err)
	}
	cells, err := sc.Cells()
	if err != nil {
		t.Fatal(err)
	}
	reportDir := filepath.Join(m.dir, with(t, upReport, "path"))
	html, err := os.ReadFile(filepath.Join(reportDir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	doc := readJUnit(t, filepath.Join(reportDir, "junit.xml"))
	inJUnit := map[string]bool{}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			inJUnit[c.Name] = true
		}
	}
	for _, c := range cells {
		if !inJUnit[c.ID] {
			t.Errorf("cell %s is not a test case of the merged JUnit file", c.ID)
		}
		if !strings.Contains(string(html), c.ID) {
			t.Errorf("cell %s is not in the merged HTML report", c.ID)
		}
	}
	if len(inJUnit) != len(cells) || doc.Failures != 0 {
		t.Errorf("junit: %d distinct cells (want %d), %d failures", len(inJUnit), len(cells), doc.Failures)
	}
	if strings.Count(out, "PASS  ") != len(sc.Expect) {
		t.Errorf("the merge step's log does not list %d passed expectations:\n%s", len(sc.Expect), out)
	}

	// A violated expectation fails the merge step, and the reports are
	// still written, with the failure in the JUnit file.
	src, err := os.ReadFile(filepath.Join(repo, wf.Env["RACELAB_SCENARIO"]))
	if err != nil {
		t.Fatal(err)
	}
	violated := filepath.Join(m.dir, "violated.yaml")
	extra := "  - name: nothing ever fails\n    failure_rate: \"0\"\n"
	if err := os.WriteFile(violated, append(src, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = m.run(t, runMerge, map[string]string{"RACELAB_SCENARIO": violated})
	if code != 1 || !strings.Contains(out, "FAIL  nothing ever fails") {
		t.Errorf("merge with a violated expectation: exit %d\n%s", code, out)
	}
	if doc := readJUnit(t, filepath.Join(reportDir, "junit.xml")); doc.Failures == 0 {
		t.Errorf("the JUnit file of a violated expectation has no failure")
	}

	// A shard lost on the way fails the merge step too, although the
	// expectations hold on the cells that are there.
	lost, _ := filepath.Glob(filepath.Join(into, "*.jsonl"))
	if err := os.Remove(lost[0]); err != nil {
		t.Fatal(err)
	}
	code, out = m.run(t, runMerge, nil)
	if code != 1 || !strings.Contains(out, "is not in the results") {
		t.Errorf("merge with a shard lost: exit %d\n%s", code, out)
	}
}

// TestRemoteEngine: a DOCKER_HOST that does not answer stops a container
// run at preflight, exit 2, naming it, before any results file exists;
// the local socket given explicitly as DOCKER_HOST is used.
func TestRemoteEngine(t *testing.T) {
	bin := binDir
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := "tcp://" + ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	results := filepath.Join(t.TempDir(), "out.jsonl")
	cmd := exec.Command(filepath.Join(bin, "racelab"), "run", "matrix.yaml", "--proxy", "nginx", "--runtime", "container", "--quiet", "-o", results)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host, "TESTCONTAINERS_RYUK_DISABLED=true")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 2 || !strings.Contains(string(out), "container engine") || !strings.Contains(string(out), "DOCKER_HOST="+host) {
		t.Errorf("unreachable DOCKER_HOST: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(results); !os.IsNotExist(err) {
		t.Errorf("a run stopped at preflight left a results file: %v", err)
	}

	const sock = "/var/run/docker.sock"
	if _, err := os.Stat(sock); err != nil {
		t.Skipf("no Docker engine socket at %s (install and start docker.io) for the explicit DOCKER_HOST: %v", sock, err)
	}
	cmd = exec.Command(filepath.Join(bin, "racelab"), "images", "list")
	cmd.Env = append(os.Environ(), "DOCKER_HOST=unix://"+sock, "TESTCONTAINERS_RYUK_DISABLED=true")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "SUITE") {
		t.Errorf("DOCKER_HOST=unix://%s: %v\n%s", sock, err, out)
	}
}
