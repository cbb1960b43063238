package scenarios

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/racelab/racelab/results"
)

// Name labels expectation i.
func (e Expectation) label(i int) string {
	if e.Name != "" {
		return e.Name
	}
	var keys []string
	for k := range e.Where {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" "+e.Where[k])
	}
	sel := "every cell"
	if len(parts) > 0 {
		sel = strings.Join(parts, ", ")
	}
	return fmt.Sprintf("expect[%d] (%s)", i, sel)
}

// Evaluate checks every expectation against every matching summary. An
// expectation that matches no cell fails: a gate that checks nothing is
// a defect. A cell that errored fails every expectation that selects it.
func Evaluate(exps []Expectation, sums []results.Summary) []results.Verdict {
	var out []results.Verdict
	for i, e := range exps {
		name := e.label(i)
		matched := 0
		for _, s := range sums {
			ok, err := e.Matches(s.Params)
			if err != nil {
				out = append(out, results.Verdict{Expectation: name, Cell: s.Cell, Message: err.Error()})
				continue
			}
			if !ok {
				continue
			}
			matched++
			out = append(out, check(name, e, s))
		}
		if matched == 0 && !e.Optional {
			out = append(out, results.Verdict{Expectation: name, Message: name + ": no cell matches its selector"})
		}
	}
	return out
}

func check(name string, e Expectation, s results.Summary) results.Verdict {
	v := results.Verdict{Expectation: name, Cell: s.Cell, Pass: true}
	var fails, oks []string
	if s.Error != "" {
		v.Pass = false
		fails = append(fails, "the cell did not complete: "+s.Error)
	}
	conds := []struct {
		what, cond string
		got        float64
		show       string
	}{
		{"failure rate", e.FailureRate, s.FailureRate, results.Rate(s)},
		{"attributed share", e.Attributed, share(s.Attributed, s.Failures), fmt.Sprintf("%d of %d failures", s.Attributed, s.Failures)},
		{"duplicate executions", e.Duplicates, float64(s.Duplicates), strconv.Itoa(s.Duplicates)},
		{"hidden retries", e.HiddenRetries, float64(s.HiddenRetry), strconv.Itoa(s.HiddenRetry)},
		{"victims not sent on the pooled connection", e.NotReused, float64(s.Counts[results.NotReused]), fmt.Sprintf("%d of %d", s.Counts[results.NotReused], s.Trials)},
	}
	for _, c := range conds {
		if c.cond == "" {
			continue
		}
		ok, err := Compare(c.cond, c.got)
		switch {
		case err != nil:
			v.Pass = false
			fails = append(fails, fmt.Sprintf("%s: %v", c.what, err))
		case !ok:
			v.Pass = false
			fails = append(fails, fmt.Sprintf("%s: expected %s, measured %s", c.what, c.cond, c.show))
		default:
			oks = append(oks, fmt.Sprintf("%s %s (measured %s)", c.what, c.cond, c.show))
		}
	}
	if v.Pass {
		v.Message = fmt.Sprintf("cell %s: %s", s.Cell, strings.Join(oks, "; "))
	} else {
		v.Message = fmt.Sprintf("cell %s: %s", s.Cell, strings.Join(fails, "; "))
	}
	return v
}

func share(k, n int) float64 {
	if n == 0 {
		return 1 // no failures: nothing unattributed
	}
	return float64(k) / float64(n)
}

// Matches reports whether a cell with params is selected by e.Where.
// A selector value is a literal ("off"), a list ("[GET, HEAD]"), or a
// comparison on a number or duration ("<0", ">=2s").
func (e Expectation) Matches(params map[string]string) (bool, error) {
	for k, want := range e.Where {
		got, ok := params[k]
		if !ok {
			return false, fmt.Errorf("selector %q: cells have no parameter %q", k, k)
		}
		m, err := matchValue(want, got)
		if err != nil {
			return false, fmt.Errorf("selector %s: %v", k, err)
		}
		if !m {
			return false, nil
		}
	}
	return true, nil
}

func matchValue(want, got string) (bool, error) {
	want = strings.TrimSpace(want)
	if strings.HasPrefix(want, "![") && strings.HasSuffix(want, "]") {
		in, err := matchValue(want[1:], got)
		return !in, err
	}
	if strings.HasPrefix(want, "[") && strings.HasSuffix(want, "]") {
		for _, w := range strings.Split(want[1:len(want)-1], ",") {
			if strings.TrimSpace(w) == got {
				return true, nil
			}
		}
		return false, nil
	}
	if op, rest := splitOp(want); op != "" {
		g, err := number(got)
		if err != nil {
			return false, fmt.Errorf("%q is not a number or duration to compare", got)
		}
		w, err := number(rest)
		if err != nil {
			return false, fmt.Errorf("%q: %v", want, err)
		}
		return cmp(op, g, w), nil
	}
	return want == got, nil
}

// Compare checks a condition like "0", ">0", "<=0.05" against got.
func Compare(cond string, got float64) (bool, error) {
	op, rest := splitOp(strings.TrimSpace(cond))
	if op == "" {
		op = "=="
	}
	w, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
	if err != nil {
		return false, fmt.Errorf("condition %q: want an operator (==, !=, <, <=, >, >=) and a number", cond)
	}
	return cmp(op, got, w), nil
}

func splitOp(s string) (string, string) {
	for _, op := range []string{">=", "<=", "==", "!=", ">", "<"} {
		if strings.HasPrefix(s, op) {
			return op, strings.TrimSpace(s[len(op):])
		}
	}
	return "", s
}

func cmp(op string, a, b float64) bool {
	const eps = 1e-12
	switch op {
	case "==":
		return a > b-eps && a < b+eps
	case "!=":
		return !(a > b-eps && a < b+eps)
	case "<":
		return a < b
	case "<=":
		return a <= b+eps
	case ">":
		return a > b
	case ">=":
		return a >= b-eps
	}
	return false
}

// number parses a plain number or a duration (as seconds).
func number(s string) (float64, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a number or duration")
	}
	return d.Seconds(), nil
}
