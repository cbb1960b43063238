package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racelab/racelab/results"
)

// FuzzReport: any results file, cut, corrupted or hostile, that the
// reader takes renders in every format without an error, and each format
// stays well formed whatever the file's strings hold: the JUnit file is
// XML that a strict parser reads back with the counts it declares, JSON
// is valid, the CSV has a row per cell under one header, and no text
// from the file becomes markup in the HTML.
func FuzzReport(f *testing.F) {
	paths, err := filepath.Glob("testdata/*.jsonl")
	if err != nil || len(paths) == 0 {
		f.Fatalf("seeds: %v %v", paths, err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// The first lines: a manifest and a few cells, small enough for
		// thousands of renders a second.
		lines := bytes.SplitAfter(data, []byte("\n"))
		f.Add(bytes.Join(lines[:min(len(lines), 12)], nil))
	}
	f.Add([]byte(`{"type":"cell","cell":"<script>x</script>]]>\u0001","params":{"a\u0000":"\"<b>"},"error":"]]><!--"}` + "\n" +
		`{"type":"verdicts","verdicts":[{"expectation":"<script>","cells":["<script>x</script>]]>\u0001"],"pass":false,"detail":"\u000c"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		run, err := results.Read(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		rep := New(run, WithSource("fuzz.jsonl"))
		out := map[Format][]byte{}
		for _, format := range Formats() {
			var b bytes.Buffer
			if err := rep.Write(&b, format); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			out[format] = b.Bytes()
		}

		var doc junitSuites
		dec := xml.NewDecoder(bytes.NewReader(out[JUnit]))
		dec.Strict = true
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("junit is not XML: %v\n%s", err, out[JUnit])
		}
		cases := 0
		for _, s := range doc.Suites {
			if s.Tests != len(s.Cases) {
				t.Fatalf("suite %q declares %d tests, holds %d", s.Name, s.Tests, len(s.Cases))
			}
			cases += len(s.Cases)
		}
		if doc.Tests != cases {
			t.Fatalf("junit declares %d tests, holds %d", doc.Tests, cases)
		}

		if !json.Valid(out[JSON]) {
			t.Fatalf("json is not valid:\n%s", out[JSON])
		}

		rows, err := csv.NewReader(bytes.NewReader(out[CSV])).ReadAll()
		if err != nil || len(rows) != 1+len(rep.Summaries) {
			t.Fatalf("csv: %d rows for %d cells, %v", len(rows), len(rep.Summaries), err)
		}

		if html := strings.ToLower(string(out[HTML])); strings.Contains(html, "<script") || strings.Contains(html, "<!--") {
			t.Fatalf("text of the results file became markup in the html")
		}
	})
}
