//go:build !linux

package netpath

// supported: the relay's loop is written for Linux (ppoll, eventfd).
const supported = false

func (p *pair) loop(uint64) {}

func signalWake(int) {}
