package results

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// VersionChange is a behaviour that differs between two versions of one
// proxy for otherwise identical cells.
type VersionChange struct {
	Kind    string `json:"kind"`
	Variant string `json:"variant"`
	// Setting names the rest of the cell: "retry=off method=GET".
	Setting string `json:"setting"`
	From    string `json:"from"`
	To      string `json:"to"`
	// Before and After are the outcome counts in each version.
	Before string `json:"before"`
	After  string `json:"after"`
}

func (c VersionChange) String() string {
	return fmt.Sprintf("%s (%s) %s: %s %s -> %s %s", c.Kind, c.Variant, c.Setting, c.From, c.Before, c.To, c.After)
}

// behaviour is the set of outcome classes a cell produced, with evidence
// flags: what a version does, not how often.
func behaviour(s Summary) string {
	var parts []string
	for _, o := range Outcomes {
		if s.Counts[o] > 0 {
			parts = append(parts, string(o))
		}
	}
	if s.Duplicates > 0 {
		parts = append(parts, "duplicates")
	}
	return strings.Join(parts, "+")
}

// VersionChanges compares cells that differ only in proxy version (params
// "kind", "version", "variant" and "proxy" are set by scenarios) and
// returns every behaviour that changed between consecutive versions.
func VersionChanges(sums []Summary) []VersionChange {
	type entry struct {
		version string
		s       Summary
	}
	groups := map[string][]entry{}
	var keys []string
	for _, s := range sums {
		v := s.Params["version"]
		if v == "" || s.Trials == 0 {
			continue
		}
		var rest []string
		for k, val := range s.Params {
			switch k {
			case "proxy", "version", "gap":
				continue
			}
			rest = append(rest, k+"="+val)
		}
		sort.Strings(rest)
		key := strings.Join(rest, " ")
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], entry{v, s})
	}
	var out []VersionChange
	for _, key := range keys {
		es := groups[key]
		if len(es) < 2 {
			continue
		}
		sort.SliceStable(es, func(i, j int) bool { return versionLess(es[i].version, es[j].version) })
		for i := 1; i < len(es); i++ {
			a, b := es[i-1], es[i]
			if behaviour(a.s) == behaviour(b.s) {
				continue
			}
			out = append(out, VersionChange{
				Kind: b.s.Params["kind"], Variant: b.s.Params["variant"], Setting: setting(b.s.Params),
				From: a.version, To: b.version, Before: Counts(a.s.Counts), After: Counts(b.s.Counts),
			})
		}
	}
	return out
}

func setting(p map[string]string) string {
	var parts []string
	for _, k := range []string{"retry", "method", "client", "fault", "margin"} {
		if v, ok := p[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// versionLess orders dotted versions numerically ("1.9" < "1.22").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx != nil || erry != nil {
			if as[i] != bs[i] {
				return as[i] < bs[i]
			}
			continue
		}
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}
