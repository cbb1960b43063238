//go:build !linux

package backends

import "time"

// haveRawPeek is false off Linux: the idle wait reads the first byte of the
// next request into the process, and UnreadBytes counts only bytes the
// backend had read but not yet parsed.
const haveRawPeek = false

func peekReady(uintptr) (bool, error) { return true, nil }

func pendingBytes(uintptr, []byte) (int, int) { return 0, 0 }

// havePrecisePoll is false off Linux: idle deadlines rest on the runtime's
// timers alone.
const havePrecisePoll = false

func pollReadable(uintptr, time.Time) error { return nil }
