package personalization

import (
	"context"
	"crypto/rsa"
	"testing"
	"time"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The pool fills up to its depth, hands each key out once, refills, and
// wipes the keys nobody took when it stops.
func TestKeyPoolHandsOutEachKeyOnceAndWipesTheRest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := NewKeyPool(ctx, 2, 1024)
	waitFor(t, "2 keys ready", func() bool { return p.Ready(1024) == 2 })
	seen := map[string]bool{}
	for range 5 {
		k, err := p.Take(1024)
		if err != nil {
			t.Fatal(err)
		}
		if k.N.BitLen() != 1024 || seen[k.N.String()] {
			t.Fatalf("a key of %d bits, or one handed out twice", k.N.BitLen())
		}
		seen[k.N.String()] = true
	}
	waitFor(t, "the pool refilled", func() bool { return p.Ready(1024) == 2 })
	// A size it was not told of is made on the spot, then kept ready too.
	if k, err := p.Take(1152); err != nil || k.N.BitLen() != 1152 {
		t.Fatalf("Take(1152): %v", err)
	}
	waitFor(t, "1152-bit keys ready", func() bool { return p.Ready(1152) == 2 })

	p.mu.Lock()
	left := append([]*rsa.PrivateKey{}, p.ready[1024]...)
	p.mu.Unlock()
	cancel()
	waitFor(t, "the pool emptied", func() bool { return p.Ready(1024) == 0 && p.Ready(1152) == 0 })
	for _, k := range left {
		if k.D.Sign() != 0 || k.Primes[0].Sign() != 0 {
			t.Fatal("a key left in the pool was not wiped")
		}
	}
	// Stopped, it still answers, making keys on the spot.
	if k, err := p.Take(1024); err != nil || seen[k.N.String()] {
		t.Fatalf("Take after stop: %v", err)
	}
}
