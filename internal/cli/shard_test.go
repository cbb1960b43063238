package cli

import "testing"

// --shard takes exactly K/N with 1 <= K <= N; anything else is a usage
// error that quotes the value.
func TestShardFlag(t *testing.T) {
	good := map[string][2]int{"": {0, 0}, "1/1": {1, 1}, "2/4": {2, 4}, "04/04": {4, 4}}
	for in, want := range good {
		f := runFlags{shard: in}
		k, n, err := f.shardKN()
		if err != nil || k != want[0] || n != want[1] {
			t.Errorf("%q: %d/%d, %v", in, k, n, err)
		}
	}
	for _, in := range []string{"1", "1/", "/1", "0/1", "2/1", "1/0", "-1/2", "1/-2", "1/2/3", " 1/2", "1/2 ", "1 /2",
		"a/b", "1.0/2", "99999999999999999999/1", "1/99999999999999999999", "１/２"} {
		f := runFlags{shard: in}
		if k, n, err := f.shardKN(); err == nil {
			t.Errorf("%q accepted as %d/%d", in, k, n)
		}
	}
}
