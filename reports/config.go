package reports

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/racelab/racelab/results"
)

// ConfigSection is one of the user's own proxy configurations a run ran:
// what routes to the upstream under test, the file's own settings for it,
// and every change racelab made to the file. Cells that ran the same file
// share one section (the facts of the first of them).
type ConfigSection struct {
	// Name is the proxy's label in the run (its name, or kind and file).
	Name  string
	Facts results.ConfigFacts
	// Cells are the ids of the cells that ran it.
	Cells []string
}

// ConfigSections returns the run's user configurations, in cell order.
func ConfigSections(run *results.Run) []ConfigSection {
	var out []ConfigSection
	index := map[string]int{}
	for _, c := range run.Cells {
		if c.Config == nil {
			continue
		}
		key := c.Config.Path + "\x00" + c.Config.Upstream
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			name := c.Params["proxy"]
			if name == "" {
				name = filepath.Base(c.Config.Path)
			}
			out = append(out, ConfigSection{Name: name, Facts: *c.Config})
		}
		out[i].Cells = append(out[i].Cells, c.ID)
	}
	return out
}

// Settings returns the file's settings for the upstream under test, in a
// fixed order: the race's own (idle timeout, retry, reuse, pool) first.
func (s ConfigSection) Settings() []string {
	first := []string{"idle_timeout", "retry", "retries", "reuse", "pool_size", "workers", "servers"}
	rank := func(k string) int {
		for i, f := range first {
			if f == k {
				return i
			}
		}
		return len(first)
	}
	keys := make([]string, 0, len(s.Facts.Settings))
	for k := range s.Facts.Settings {
		keys = append(keys, k)
	}
	sort.SliceStable(keys, func(i, j int) bool {
		if ri, rj := rank(keys[i]), rank(keys[j]); ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	out := make([]string, len(keys))
	for i, k := range keys {
		v := s.Facts.Settings[k]
		where := v.Source
		if v.Default {
			where = "default"
		}
		line := fmt.Sprintf("%s = %s (%s)", k, v.Value, where)
		if v.Note != "" {
			line += ": " + v.Note
		}
		out[i] = line
	}
	return out
}

// RouteText says which request reaches the upstream under test.
func (s ConfigSection) RouteText() string {
	r := s.Facts.Route
	t := "requests to " + orDash(r.Path)
	if r.Host != "" {
		t += " with Host " + r.Host
	}
	if r.Source != "" {
		t += " (routed at " + r.Source + ")"
	}
	return t
}

// Pooling counts the changes that can alter pooling.
func (s ConfigSection) Pooling() int {
	n := 0
	for _, c := range s.Facts.Changes {
		if c.AltersPooling {
			n++
		}
	}
	return n
}

// ChangeLines formats every change: "file:line old → new (why)", with
// the changes that can alter pooling marked.
func (s ConfigSection) ChangeLines() []string {
	out := make([]string, len(s.Facts.Changes))
	for i, c := range s.Facts.Changes {
		where := ""
		if c.File != "" {
			where = fmt.Sprintf("%s:%d ", c.File, c.Line)
		}
		var what string
		switch {
		case c.Old != "" && c.New != "":
			what = c.Old + " → " + c.New
		case c.Old != "":
			what = "removed " + c.Old
		default:
			what = "added " + c.New
		}
		line := where + what
		if c.Why != "" {
			line += " (" + c.Why + ")"
		}
		if c.AltersPooling {
			line = "[alters pooling] " + line
		}
		out[i] = line
	}
	return out
}

// configText writes the terminal section of each configuration.
func configText(w io.Writer, secs []ConfigSection) {
	for _, s := range secs {
		fmt.Fprintf(w, "\nYour configuration %s (%s", s.Name, s.Facts.Path)
		if s.Facts.Upstream != "" {
			fmt.Fprintf(w, ", upstream %s", s.Facts.Upstream)
		}
		fmt.Fprintf(w, "): %s\n", s.RouteText())
		fmt.Fprintln(w, "  its own settings for the upstream under test:")
		for _, l := range s.Settings() {
			fmt.Fprintf(w, "    %s\n", l)
		}
		fmt.Fprintf(w, "  what racelab changed in it (%d changes, %d can alter pooling):\n", len(s.Facts.Changes), s.Pooling())
		for _, l := range s.ChangeLines() {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
}

// configMarkdown writes the Markdown section of each configuration.
func configMarkdown(w io.Writer, secs []ConfigSection) {
	if len(secs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## What racelab changed in your configuration\n")
	for _, s := range secs {
		fmt.Fprintf(w, "\n### %s\n\n`%s`", mdEscape(s.Name), s.Facts.Path)
		if s.Facts.Upstream != "" {
			fmt.Fprintf(w, ", upstream `%s`", s.Facts.Upstream)
		}
		fmt.Fprintf(w, ": %s.\n\nIts own settings for the upstream under test:\n\n", mdEscape(s.RouteText()))
		for _, l := range s.Settings() {
			fmt.Fprintf(w, "- %s\n", mdEscape(l))
		}
		fmt.Fprintf(w, "\n%d changes, %d of which can alter pooling:\n\n| where | change | why |\n|---|---|---|\n", len(s.Facts.Changes), s.Pooling())
		for _, c := range s.Facts.Changes {
			where := "added"
			if c.File != "" {
				where = fmt.Sprintf("%s:%d", c.File, c.Line)
			}
			var what []string
			if c.Old != "" {
				what = append(what, "`"+mdCode(c.Old)+"`")
			}
			if c.New != "" {
				what = append(what, "`"+mdCode(c.New)+"`")
			}
			why := mdEscape(c.Why)
			if c.AltersPooling {
				why = "**alters pooling**: " + why
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", mdEscape(where), strings.Join(what, " → "), why)
		}
	}
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func mdCode(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "`", "'"), "|", `\|`)
}
