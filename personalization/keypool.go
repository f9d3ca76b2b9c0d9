package personalization

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"sync"

	"github.com/cccd-station/station/personalization/lds"
)

// KeyPool makes the station-made RSA Active Authentication keys of jmrtd
// chips ahead of the cards, in memory only: a key is never stored, is
// handed out once, and the keys left when the pool stops are wiped. Taking
// a ready key takes RSA key generation (65 ms on average at 2048 bits, with
// a long tail) off the card's path; an empty pool makes the key on the
// spot, so a card never waits for the pool. A crash loses only keys no card
// has seen.
type KeyPool struct {
	depth int
	mu    sync.Mutex
	ready map[int][]*rsa.PrivateKey // by modulus size
	kick  chan struct{}
}

// NewKeyPool keeps depth keys of each size ready (sizes also learnt from
// Take) until ctx ends; then the keys left are wiped.
func NewKeyPool(ctx context.Context, depth int, bits ...int) *KeyPool {
	p := &KeyPool{depth: depth, ready: map[int][]*rsa.PrivateKey{}, kick: make(chan struct{}, 1)}
	for _, b := range bits {
		if b > 0 {
			p.ready[b] = nil
		}
	}
	go p.fill(ctx)
	return p
}

// Take returns a key of that size: a ready one, or one made now.
func (p *KeyPool) Take(bits int) (*rsa.PrivateKey, error) {
	p.mu.Lock()
	keys, known := p.ready[bits]
	var k *rsa.PrivateKey
	if n := len(keys); n > 0 {
		k = keys[n-1]
		keys[n-1] = nil
		p.ready[bits] = keys[:n-1]
	} else if !known {
		p.ready[bits] = nil
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	if k != nil {
		return k, nil
	}
	return rsa.GenerateKey(rand.Reader, bits)
}

// Ready is how many keys of that size are ready.
func (p *KeyPool) Ready(bits int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready[bits])
}

// short is a size with fewer than depth keys ready, 0 if none.
func (p *KeyPool) short() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for bits, keys := range p.ready {
		if len(keys) < p.depth {
			return bits
		}
	}
	return 0
}

func (p *KeyPool) fill(ctx context.Context) {
	defer func() {
		p.mu.Lock()
		for bits, keys := range p.ready {
			for _, k := range keys {
				lds.WipeRSAKey(k)
			}
			p.ready[bits] = nil
		}
		p.depth = 0 // keys made from now on are not kept
		p.mu.Unlock()
	}()
	for ctx.Err() == nil {
		bits := p.short()
		if bits == 0 {
			select {
			case <-ctx.Done():
			case <-p.kick:
			}
			continue
		}
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			// The system's random source failed: Take will say so on
			// the card's path; try again when asked.
			select {
			case <-ctx.Done():
			case <-p.kick:
			}
			continue
		}
		p.mu.Lock()
		if len(p.ready[bits]) < p.depth && ctx.Err() == nil {
			p.ready[bits] = append(p.ready[bits], k)
			k = nil
		}
		p.mu.Unlock()
		if k != nil {
			lds.WipeRSAKey(k)
		}
	}
}
