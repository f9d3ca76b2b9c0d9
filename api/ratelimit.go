package api

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per client key. Idle buckets are forgotten
// (a full bucket is the same as a new one), and the table is bounded so that
// a flood of addresses cannot grow it without end.
type limiter struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

const maxBuckets = 10000

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

// allow takes one token from the key's bucket.
func (l *limiter) allow(key string) bool {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets || now.Sub(l.swept) > time.Minute {
			l.sweep(now)
		}
		if len(l.buckets) >= maxBuckets {
			return false // under a flood of new clients, refuse new ones rather than grow
		}
		b = &bucket{l: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.l.AllowN(now, 1)
}

// sweep forgets buckets idle long enough to have refilled.
func (l *limiter) sweep(now time.Time) {
	l.swept = now
	full := time.Duration(float64(l.burst)/float64(l.rate)*float64(time.Second)) + time.Second
	for k, b := range l.buckets {
		if now.Sub(b.seen) > full {
			delete(l.buckets, k)
		}
	}
}
