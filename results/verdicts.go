package results

// TypeVerdicts is the line type of a results file's expectation verdicts,
// written after the last cell so that a re-render has them without the
// scenario.
const TypeVerdicts = "verdicts"

// Verdict is one expectation checked against one cell (see
// scenarios.Evaluate).
type Verdict struct {
	Expectation string `json:"expectation"`
	// Cell is empty when the expectation matched no cell.
	Cell string `json:"cell"`
	Pass bool   `json:"pass"`
	// Message names the cell, what was expected and what was measured.
	Message string `json:"message"`
}

// VerdictsLine carries a run's verdicts in a results file.
type VerdictsLine struct {
	Type     string    `json:"type"`
	Verdicts []Verdict `json:"verdicts"`
}

// NewVerdictsLine returns the line that records vs.
func NewVerdictsLine(vs []Verdict) VerdictsLine {
	if vs == nil {
		vs = []Verdict{}
	}
	return VerdictsLine{Type: TypeVerdicts, Verdicts: vs}
}

// AllPass reports whether every verdict passed (true when there are none).
func AllPass(vs []Verdict) bool {
	for _, v := range vs {
		if !v.Pass {
			return false
		}
	}
	return true
}
