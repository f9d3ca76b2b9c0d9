package emrtd

// A minimal reader side for the tests of this package only: APDU building,
// BAC as the inspection system runs it, and command wrapping / response
// unwrapping. It is written from the terminal's point of view (ICAO 9303-11
// §4.3, §9.8) and uses the chip's primitives (3DES, retail MAC, padding, key
// derivation), which the ICAO known-answer test pins.

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// mrzTriple is what PUT DATA 62 carries.
type mrzTriple struct{ doc, dob, exp string }

// icaoMRZ is the MRZ of the ICAO 9303-11 Appendix D worked example.
var icaoMRZ = mrzTriple{"L898902C<", "690806", "940623"}

// cccdMRZ is a CCCD-like MRZ (9-digit document number).
var cccdMRZ = mrzTriple{"203001234", "030514", "430514"}

func hx(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// buildAPDU encodes a command APDU (ISO/IEC 7816-4 §5.1). ne = 0 means no Le.
// The extended form is used when asked or when Nc > 255 or Ne > 256.
func buildAPDU(cla, ins, p1, p2 byte, data []byte, ne int, extended bool) []byte {
	ext := extended || len(data) > 255 || ne > 256
	out := []byte{cla, ins, p1, p2}
	if !ext {
		if len(data) > 0 {
			out = append(out, byte(len(data)))
			out = append(out, data...)
		}
		if ne > 0 {
			out = append(out, byte(ne)) // 256 → 00
		}
		return out
	}
	if len(data) > 0 {
		out = append(out, 0x00, byte(len(data)>>8), byte(len(data)))
		out = append(out, data...)
	}
	if ne > 0 {
		if len(data) == 0 {
			out = append(out, 0x00)
		}
		out = append(out, byte(ne>>8), byte(ne)) // 65536 → 0000
	}
	return out
}

func swOf(resp []byte) uint16 {
	if len(resp) < 2 {
		return 0
	}
	return uint16(resp[len(resp)-2])<<8 | uint16(resp[len(resp)-1])
}

// testReader drives a chip through Process.
type testReader struct {
	tb testing.TB
	c  *Chip
	sm *readerSession
	// extended makes protected commands use extended Lc/Le (outer Le 0000).
	extended bool
}

func newReader(tb testing.TB, c *Chip) *testReader {
	return &testReader{tb: tb, c: c}
}

// send transmits a raw APDU; the chip must answer (no error) with at least
// a status word.
func (r *testReader) send(apdu []byte) []byte {
	r.tb.Helper()
	resp, err := r.c.Process(apdu)
	if err != nil {
		r.tb.Fatalf("Process(%s): %v", hx(apdu), err)
	}
	if len(resp) < 2 {
		r.tb.Fatalf("Process(%s) = %s: no status word", hx(apdu), hx(resp))
	}
	return resp
}

// expect sends apdu and checks the status word.
func (r *testReader) expect(what string, apdu []byte, want uint16) []byte {
	r.tb.Helper()
	resp := r.send(apdu)
	if got := swOf(resp); got != want {
		r.tb.Fatalf("%s: %s answered %s, want SW %04X", what, hx(apdu), hx(resp), want)
	}
	return resp[:len(resp)-2]
}

func (r *testReader) selectApplet() {
	r.tb.Helper()
	r.expect("SELECT applet", buildAPDU(0x00, 0xA4, 0x04, 0x0C, AIDPassport, 0, false), swOK)
	r.sm = nil
}

func (r *testReader) selectCardManager() {
	r.tb.Helper()
	r.expect("SELECT card manager", buildAPDU(0x00, 0xA4, 0x04, 0x00, AIDCardManager, 256, false), swOK)
	r.sm = nil
}

func createFileAPDU(fid uint16, size int) []byte {
	return buildAPDU(0x00, 0xE0, 0x00, 0x00, []byte{0x63, 0x04, byte(size >> 8), byte(size), byte(fid >> 8), byte(fid)}, 0, false)
}

func selectFileAPDU(fid uint16) []byte {
	return buildAPDU(0x00, 0xA4, 0x02, 0x0C, []byte{byte(fid >> 8), byte(fid)}, 0, false)
}

func readBinaryAPDU(off, ne int) []byte {
	return buildAPDU(0x00, 0xB0, byte(off>>8), byte(off), nil, ne, false)
}

func updateBinaryAPDU(off int, data []byte) []byte {
	return buildAPDU(0x00, 0xD6, byte(off>>8), byte(off), data, 0, false)
}

func mrzData(m mrzTriple) []byte {
	var in []byte
	in = appendTLV(in, 0x04, []byte(m.doc))
	in = appendTLV(in, 0x04, []byte(m.dob))
	in = appendTLV(in, 0x04, []byte(m.exp))
	return appendTLV(nil, 0x62, in)
}

func putMRZAPDU(m mrzTriple) []byte {
	return buildAPDU(0x00, 0xDA, 0x00, 0x62, mrzData(m), 0, false)
}

// aaKeyData encodes PUT DATA 60/61 as JMRTD's host does: the integer's
// two's-complement bytes (a leading 00 when the top bit is set).
func aaKeyData(tag byte, v []byte) []byte {
	if len(v) > 0 && v[0]&0x80 != 0 {
		v = append([]byte{0x00}, v...)
	}
	return appendTLV(nil, uint32(tag), appendTLV(nil, 0x04, v))
}

func lockAPDU() []byte { return []byte{0x00, 0xDA, 0xDE, 0xAD} }

// writeFile creates, selects and fills an EF in plain, chunk bytes at a time.
func (r *testReader) writeFile(fid uint16, content []byte, chunk int) {
	r.tb.Helper()
	r.expect(fmt.Sprintf("CREATE FILE %04X", fid), createFileAPDU(fid, len(content)), swOK)
	r.expect(fmt.Sprintf("SELECT FILE %04X", fid), selectFileAPDU(fid), swOK)
	for off := 0; off < len(content); off += chunk {
		end := min(off+chunk, len(content))
		r.expect(fmt.Sprintf("UPDATE BINARY %04X@%d", fid, off), buildAPDU(0x00, 0xD6, byte(off>>8), byte(off), content[off:end], 0, false), swOK)
	}
}

// putAAKey loads an RSA key (modulus then private exponent).
func (r *testReader) putAAKey(k *rsa.PrivateKey) {
	r.tb.Helper()
	r.expect("PUT DATA AA modulus", buildAPDU(0x00, 0xDA, 0x00, 0x60, aaKeyData(0x60, k.N.Bytes()), 0, false), swOK)
	r.expect("PUT DATA AA exponent", buildAPDU(0x00, 0xDA, 0x00, 0x61, aaKeyData(0x61, k.D.Bytes()), 0, false), swOK)
}

// readerSession is the terminal's half of secure messaging.
type readerSession struct {
	enc          cipher.Block
	mac          retailMAC
	ssc          [8]byte
	ksEnc, ksMac []byte
}

func (s *readerSession) inc() {
	for i := 7; i >= 0; i-- {
		s.ssc[i]++
		if s.ssc[i] != 0 {
			return
		}
	}
}

var errUnprotected = errors.New("response not protected")

// wrap builds a protected command: '87' (when there is data), '97' (when
// ne > 0), '8E'; outer Le 00 (or 0000 when extended).
func (s *readerSession) wrap(cla, ins, p1, p2 byte, data []byte, ne int, extended bool) []byte {
	s.inc()
	hdr := []byte{cla | 0x0C, ins, p1, p2}
	var dos []byte
	if len(data) > 0 {
		dos = appendTLV(dos, 0x87, append([]byte{0x01}, cbcEncrypt(s.enc, pad(data))...))
	}
	if ne > 0 {
		var le []byte
		if ne > 256 {
			le = []byte{byte(ne >> 8), byte(ne)}
		} else {
			le = []byte{byte(ne)}
		}
		dos = appendTLV(dos, 0x97, le)
	}
	macIn := append(append(append([]byte(nil), s.ssc[:]...), pad(hdr)...), dos...)
	dos = appendTLV(dos, 0x8E, s.mac.sum(macIn))
	outerNe := 256
	if extended {
		outerNe = 65536
	}
	return buildAPDU(hdr[0], ins, p1, p2, dos, outerNe, extended)
}

// unwrap checks a protected response and returns its plain data and SW.
func (s *readerSession) unwrap(resp []byte) ([]byte, uint16, error) {
	sw := swOf(resp)
	body := resp[:len(resp)-2]
	if len(body) == 0 {
		return nil, sw, errUnprotected
	}
	s.inc()
	var raw87, raw99, mac, cg []byte
	rest := body
	for len(rest) > 0 {
		tag, v, next, ok := readTLV(rest)
		if !ok {
			return nil, sw, errors.New("malformed data object")
		}
		raw := rest[:len(rest)-len(next)]
		switch tag {
		case 0x87:
			raw87, cg = raw, v
		case 0x99:
			raw99 = raw
			if len(v) != 2 || uint16(v[0])<<8|uint16(v[1]) != sw {
				return nil, sw, fmt.Errorf("DO'99' %s disagrees with SW %04X", hx(v), sw)
			}
		case 0x8E:
			mac = v
		default:
			return nil, sw, fmt.Errorf("unexpected tag %X", tag)
		}
		rest = next
	}
	if raw99 == nil || mac == nil {
		return nil, sw, errors.New("DO'99' or DO'8E' missing")
	}
	in := append(append(append([]byte(nil), s.ssc[:]...), raw87...), raw99...)
	if subtle.ConstantTimeCompare(s.mac.sum(in), mac) != 1 {
		return nil, sw, errors.New("response MAC wrong")
	}
	if cg == nil {
		return nil, sw, nil
	}
	if len(cg) < 9 || cg[0] != 0x01 {
		return nil, sw, errors.New("bad DO'87'")
	}
	data, ok := unpad(cbcDecrypt(s.enc, cg[1:]))
	if !ok {
		return nil, sw, errors.New("bad padding")
	}
	return data, sw, nil
}

// bac runs Basic Access Control (ICAO 9303-11 §4.3) as an inspection system
// with the given MRZ and returns the SW of the step that failed, or 9000.
func (r *testReader) bac(m mrzTriple) uint16 {
	r.tb.Helper()
	r.sm = nil
	kEnc, kMac := keySeedInput{m.doc, m.dob, m.exp}.bacKeys()
	resp := r.send(buildAPDU(0x00, 0x84, 0x00, 0x00, nil, 8, false))
	if swOf(resp) != swOK {
		return swOf(resp)
	}
	rndIC := resp[:8]
	rndIFD, kIFD := make([]byte, 8), make([]byte, 16)
	rand.Read(rndIFD)
	rand.Read(kIFD)
	s := append(append(append([]byte(nil), rndIFD...), rndIC...), kIFD...)
	eIFD := cbcEncrypt(newTDES(kEnc), s)
	mIFD := newRetailMAC(kMac).sum(eIFD)
	resp = r.send(buildAPDU(0x00, 0x82, 0x00, 0x00, append(eIFD, mIFD...), 40, false))
	if swOf(resp) != swOK {
		return swOf(resp)
	}
	if len(resp) != 42 {
		r.tb.Fatalf("EXTERNAL AUTHENTICATE answered %d bytes, want 40 + SW", len(resp)-2)
	}
	eIC, mIC := resp[:32], resp[32:40]
	if !newRetailMAC(kMac).verify(eIC, mIC) {
		r.tb.Fatalf("EXTERNAL AUTHENTICATE: M.IC does not verify")
	}
	rr := cbcDecrypt(newTDES(kEnc), eIC)
	if !bytes.Equal(rr[0:8], rndIC) || !bytes.Equal(rr[8:16], rndIFD) {
		r.tb.Fatalf("EXTERNAL AUTHENTICATE: nonces not echoed: %s", hx(rr[:16]))
	}
	seed := make([]byte, 16)
	subtle.XORBytes(seed, kIFD, rr[16:32])
	ksEnc, ksMac := deriveKey(seed, 1), deriveKey(seed, 2)
	sess := &readerSession{enc: newTDES(ksEnc), mac: newRetailMAC(ksMac), ksEnc: ksEnc, ksMac: ksMac}
	copy(sess.ssc[:4], rndIC[4:])
	copy(sess.ssc[4:], rndIFD[4:])
	r.sm = sess
	return swOK
}

// mustBAC runs BAC and fails the test unless it succeeds.
func (r *testReader) mustBAC(m mrzTriple) {
	r.tb.Helper()
	if sw := r.bac(m); sw != swOK {
		r.tb.Fatalf("BAC failed with SW %04X", sw)
	}
}

// smSend sends a protected command and unwraps the answer. A response that
// comes back unprotected (an SM error) is returned with errUnprotected.
func (r *testReader) smSend(ins, p1, p2 byte, data []byte, ne int) ([]byte, uint16, error) {
	r.tb.Helper()
	if r.sm == nil {
		r.tb.Fatalf("smSend without a session")
	}
	resp := r.send(r.sm.wrap(0x00, ins, p1, p2, data, ne, r.extended))
	return r.sm.unwrap(resp)
}

// smExpect sends a protected command and checks its (protected) status word.
func (r *testReader) smExpect(what string, ins, p1, p2 byte, data []byte, ne int, want uint16) []byte {
	r.tb.Helper()
	d, sw, err := r.smSend(ins, p1, p2, data, ne)
	if err != nil {
		r.tb.Fatalf("%s: SW %04X: %v", what, sw, err)
	}
	if sw != want {
		r.tb.Fatalf("%s: SW %04X, want %04X", what, sw, want)
	}
	return d
}

// smReadFile selects and reads a whole EF under secure messaging, chunk
// bytes a command.
func (r *testReader) smReadFile(fid uint16, chunk int) []byte {
	r.tb.Helper()
	r.smExpect(fmt.Sprintf("SM SELECT %04X", fid), 0xA4, 0x02, 0x0C, []byte{byte(fid >> 8), byte(fid)}, 0, swOK)
	var out []byte
	for {
		d, sw, err := r.smSend(0xB0, byte(len(out)>>8), byte(len(out)), nil, chunk)
		if err != nil {
			r.tb.Fatalf("SM READ BINARY %04X@%d: %v", fid, len(out), err)
		}
		switch sw {
		case swOK:
			out = append(out, d...)
		case swEndOfFile:
			return append(out, d...)
		case swWrongP1P2: // offset == size: the previous read ended exactly at the end
			return out
		default:
			r.tb.Fatalf("SM READ BINARY %04X@%d: SW %04X", fid, len(out), sw)
		}
		if len(d) == 0 {
			r.tb.Fatalf("SM READ BINARY %04X@%d: no progress", fid, len(out))
		}
	}
}

// plainReadFile reads a whole EF in plain (before lock).
func (r *testReader) plainReadFile(fid uint16, chunk int) []byte {
	r.tb.Helper()
	r.expect(fmt.Sprintf("SELECT %04X", fid), selectFileAPDU(fid), swOK)
	var out []byte
	for {
		resp := r.send(buildAPDU(0x00, 0xB0, byte(len(out)>>8), byte(len(out)), nil, chunk, false))
		d := resp[:len(resp)-2]
		switch swOf(resp) {
		case swOK:
			out = append(out, d...)
		case swEndOfFile:
			return append(out, d...)
		case swWrongP1P2:
			return out
		default:
			r.tb.Fatalf("READ BINARY %04X@%d: %s", fid, len(out), hx(resp))
		}
	}
}

// verifyAA checks an Active Authentication signature (ICAO 9303-11 §6.1.2,
// ISO/IEC 9796-2 scheme 1 with SHA-1) against the public key and challenge:
// it recovers F = s^e mod n, checks header 6A and trailer BC, and compares
// SHA-1(M1 ‖ challenge) with the recovered hash.
func verifyAA(pub *rsa.PublicKey, challenge, sig []byte) error {
	k := (pub.N.BitLen() + 7) / 8
	if len(sig) != k {
		return fmt.Errorf("signature is %d bytes, modulus %d", len(sig), k)
	}
	f := rsaPublic(pub, sig)
	if f[0] != 0x6A {
		return fmt.Errorf("header %02X, want 6A", f[0])
	}
	if f[k-1] != 0xBC {
		return fmt.Errorf("trailer %02X, want BC", f[k-1])
	}
	m1 := f[1 : k-21]
	want := f[k-21 : k-1]
	if got := sha1Sum(append(append([]byte(nil), m1...), challenge...)); !bytes.Equal(got, want) {
		return fmt.Errorf("hash of M1‖challenge %s, recovered %s", hx(got), hx(want))
	}
	return nil
}
