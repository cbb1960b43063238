package results

import "math"

// Summary aggregates one cell's trials.
type Summary struct {
	Cell   string            `json:"cell"`
	Params map[string]string `json:"params,omitempty"`
	Proxy  map[string]string `json:"proxy,omitempty"`
	Error  string            `json:"error,omitempty"`
	Note   string            `json:"note,omitempty"`
	Trials int               `json:"trials"`
	Counts map[Outcome]int   `json:"counts"`
	// Failures are trials whose outcome Failed.
	Failures    int     `json:"failures"`
	FailureRate float64 `json:"failure_rate"`
	// CILow and CIHigh bound the failure rate: 95% Wilson interval.
	CILow  float64 `json:"ci_low"`
	CIHigh float64 `json:"ci_high"`
	// Attributed failures carry backend evidence of the stale-connection
	// race; Unattributed failures do not.
	Attributed   int `json:"attributed"`
	Unattributed int `json:"unattributed"`
	HiddenRetry  int `json:"hidden_retries"`
	// Duplicates are trials whose handler ran more than once;
	// DuplicatesUnsafe those with a non-idempotent method.
	Duplicates       int `json:"duplicates"`
	DuplicatesUnsafe int `json:"duplicates_unsafe"`
}

// Wilson returns the 95% Wilson score interval for k successes in n trials.
func Wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.959963984540054
	p := float64(k) / float64(n)
	nn := float64(n)
	den := 1 + z*z/nn
	centre := (p + z*z/(2*nn)) / den
	half := z * math.Sqrt(p*(1-p)/nn+z*z/(4*nn*nn)) / den
	return math.Max(0, centre-half), math.Min(1, centre+half)
}

// Idempotent reports whether method is safe to execute twice.
func Idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

func (s *Summary) add(r Record) {
	if s.Counts == nil {
		s.Counts = map[Outcome]int{}
	}
	s.Trials++
	s.Counts[r.Outcome]++
	if r.Outcome.Failed() {
		s.Failures++
		if r.Attributed {
			s.Attributed++
		} else {
			s.Unattributed++
		}
	}
	if r.HiddenRetry {
		s.HiddenRetry++
	}
	if r.Duplicate {
		s.Duplicates++
		if !Idempotent(r.Method) {
			s.DuplicatesUnsafe++
		}
	}
}

func (s *Summary) finish() {
	if s.Trials > 0 {
		s.FailureRate = float64(s.Failures) / float64(s.Trials)
	}
	s.CILow, s.CIHigh = Wilson(s.Failures, s.Trials)
}
