//go:build !linux

package process

// awaitExit cannot wait without reaping here (no waitid with WNOWAIT in
// package syscall), so it reports false and the group is not swept after
// its leader exits.
func awaitExit(pid int) bool { return false }
