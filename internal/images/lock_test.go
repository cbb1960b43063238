package images

import (
	"context"
	"testing"
	"time"
)

// A second build of the same suite waits for the first; another suite
// does not.
func TestLockSuite(t *testing.T) {
	ctx := context.Background()
	unlock, err := lockSuite(ctx, "locktest")
	if err != nil {
		t.Fatal(err)
	}
	other, err := lockSuite(ctx, "locktest-other")
	if err != nil {
		t.Fatalf("another suite blocked: %v", err)
	}
	other()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := lockSuite(short, "locktest"); err == nil {
		t.Fatal("a second lock of the same suite was granted while held")
	}
	unlock()
	again, err := lockSuite(ctx, "locktest")
	if err != nil {
		t.Fatalf("lock not released: %v", err)
	}
	again()
}
