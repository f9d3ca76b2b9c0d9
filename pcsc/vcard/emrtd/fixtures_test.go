package emrtd

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"math/big"
	"sync"
	"testing"
)

// modelsWith lists the models of one command set: the JMRTD-specific tests
// (CREATE FILE 63 04 in plain, LOCK) run on the JMRTD models; the cccd model
// has its own.
func modelsWith(cs CommandSet) []Model {
	var out []Model
	for _, m := range Models {
		if m.CommandSet == cs {
			out = append(out, m)
		}
	}
	return out
}

func rsaPublic(pub *rsa.PublicKey, sig []byte) []byte {
	k := (pub.N.BitLen() + 7) / 8
	m := new(big.Int).Exp(new(big.Int).SetBytes(sig), big.NewInt(int64(pub.E)), pub.N)
	return m.FillBytes(make([]byte, k))
}

func sha1Sum(b []byte) []byte {
	h := sha1.Sum(b)
	return h[:]
}

var testKeys struct {
	mu   sync.Mutex
	keys map[int]*rsa.PrivateKey
}

// testKey returns an RSA key of the given size, generated once per test
// binary.
func testKey(tb testing.TB, bits int) *rsa.PrivateKey {
	tb.Helper()
	testKeys.mu.Lock()
	defer testKeys.mu.Unlock()
	if k, ok := testKeys.keys[bits]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		tb.Fatalf("generating a %d-bit RSA key: %v", bits, err)
	}
	if testKeys.keys == nil {
		testKeys.keys = make(map[int]*rsa.PrivateKey)
	}
	testKeys.keys[bits] = k
	return k
}

// image is what a station writes to a chip.
type image struct {
	files map[uint16][]byte
	order []uint16
	mrz   mrzTriple
	key   *rsa.PrivateKey // nil: no AA
}

// pattern is deterministic filler content: the bytes differ per file and
// offset so that a misplaced write shows.
func pattern(fid uint16, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ byte(i>>8) ^ byte(fid) ^ byte(fid>>8)*3
	}
	return b
}

func testImage(key *rsa.PrivateKey) image {
	img := image{files: map[uint16][]byte{}, mrz: cccdMRZ, key: key}
	for _, f := range []struct {
		fid  uint16
		size int
	}{
		{0x011E, 24},   // EF.COM
		{0x0101, 95},   // DG1
		{0x0102, 4000}, // DG2
		{0x0103, 600},  // DG3
		{0x010D, 700},  // DG13
		{0x010F, 300},  // DG15
		{0x011D, 1800}, // EF.SOD
	} {
		img.files[f.fid] = pattern(f.fid, f.size)
		img.order = append(img.order, f.fid)
	}
	return img
}

// personalize writes img to a fresh chip of model m in plain (chunk bytes per
// UPDATE BINARY), stores the MRZ key seed and the AA key, and locks when
// asked. The reader is left with the applet selected, no session.
func personalize(tb testing.TB, c *Chip, img image, chunk int, lock bool) *testReader {
	tb.Helper()
	r := newReader(tb, c)
	r.selectApplet()
	for _, fid := range img.order {
		r.writeFile(fid, img.files[fid], chunk)
	}
	r.expect("PUT DATA MRZ", putMRZAPDU(img.mrz), swOK)
	if img.key != nil {
		r.putAAKey(img.key)
	}
	if lock {
		r.expect("LOCK", lockAPDU(), swOK)
	}
	return r
}
