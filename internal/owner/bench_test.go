package owner

import "testing"

// BenchmarkStartKeeper measures what a racelab process pays once, before
// its first proxy starts: starting a keeper and waiting until it runs.
func BenchmarkStartKeeper(b *testing.B) {
	for b.Loop() {
		c, err := startKeeper()
		if err != nil {
			b.Fatal(err)
		}
		c.w.Close() // the keeper exits at once: nothing tracked
	}
}
