package appserver_test

import (
	"context"
	"testing"
	"time"

	"github.com/racelab/racelab/internal/appserver"
)

// BenchmarkStartStop is the set-up cost of a real-runtime cell: start the
// server, wait for its first answer and log line, stop it.
func BenchmarkStartStop(b *testing.B) {
	for _, rt := range appserver.Runtimes() {
		b.Run(string(rt.Name), func(b *testing.B) {
			if err := appserver.Available(rt.Name); err != nil {
				b.Skip(err)
			}
			for b.Loop() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				s, err := appserver.Start(ctx, appserver.Spec{Name: rt.Name, KeepAlive: time.Second})
				if err != nil {
					cancel()
					b.Fatal(err)
				}
				if err := s.Stop(ctx); err != nil {
					cancel()
					b.Fatal(err)
				}
				cancel()
			}
		})
	}
}
