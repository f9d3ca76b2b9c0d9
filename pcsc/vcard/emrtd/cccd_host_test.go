package emrtd

// A minimal host side for the cccd model, for this package's tests only: the
// station's SCP03 personalization script (cccd.md §4) and a border reader
// (PACE, BAC, secure messaging, Chip Authentication, ECDSA Active
// Authentication), written from the host's side. It uses the chip's
// primitives (AES, CMAC, the KDFs, TLV), which the known-answer tests pin
// (RFC 4493, the GP Amd D vectors, ICAO 9303-11 Appendices D and G.1), and
// nothing of package personalization.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"testing"
)

type cccdHost struct {
	tb  testing.TB
	tx  func([]byte) ([]byte, error)
	scp *hostSCP
	sm  *hostSM
	// noWrap makes the status-word table send a row as is in a state with
	// a session.
	noWrap bool
}

func newCCCDHost(tb testing.TB, c *Chip) *cccdHost {
	return &cccdHost{tb: tb, tx: c.Process}
}

func (h *cccdHost) send(apdu []byte) []byte {
	h.tb.Helper()
	resp, err := h.tx(apdu)
	if err != nil {
		h.tb.Fatalf("transmit %s: %v", hx(apdu), err)
	}
	if len(resp) < 2 {
		h.tb.Fatalf("transmit %s = %s: no status word", hx(apdu), hx(resp))
	}
	return resp
}

// expect sends a raw APDU and checks its status word.
func (h *cccdHost) expect(what string, apdu []byte, want uint16) []byte {
	h.tb.Helper()
	resp := h.send(apdu)
	if got := swOf(resp); got != want {
		h.tb.Fatalf("%s: %s answered %s, want SW %04X", what, hx(apdu), hx(resp), want)
	}
	return resp[:len(resp)-2]
}

func (h *cccdHost) selectApplication() {
	h.tb.Helper()
	h.expect("SELECT eMRTD application", buildAPDU(0x00, 0xA4, 0x04, 0x0C, AIDPassport, 0, false), swOK)
	h.scp, h.sm = nil, nil
}

// ---- SCP03, the station's side (GP Amd D) ----

type hostSCP struct {
	level     byte
	enc       cipher.Block
	mac, rmac *cmac
	chain     []byte
	counter   uint64
}

// openSCP03 runs INITIALIZE UPDATE and EXTERNAL AUTHENTICATE with the card's
// static keys (as the station diversifies them) at a security level. It
// checks the card cryptogram and returns the status word of EXTERNAL
// AUTHENTICATE.
func (h *cccdHost) openSCP03(keys scp03Keys, level byte) uint16 {
	h.tb.Helper()
	h.scp = nil
	host := make([]byte, 8)
	rand.Read(host)
	resp := h.send(buildAPDU(0x80, 0x50, keys.kvn, 0x00, host, 256, false))
	if swOf(resp) != swOK {
		return swOf(resp)
	}
	r := resp[:len(resp)-2]
	if len(r) != 32 || r[10] != keys.kvn || r[11] != 0x03 || r[12] != 0x70 {
		h.tb.Fatalf("INITIALIZE UPDATE answered %s", hx(r))
	}
	ctx := append(append([]byte(nil), host...), r[13:21]...)
	l := 8 * len(keys.enc)
	sEnc := scp03KDF(keys.enc, 0x04, l, ctx)
	sMac := scp03KDF(keys.mac, 0x06, l, ctx)
	sRMac := scp03KDF(keys.mac, 0x07, l, ctx)
	if !bytes.Equal(scp03KDF(sMac, 0x00, 64, ctx), r[21:29]) {
		h.tb.Fatalf("INITIALIZE UPDATE: the card cryptogram %s does not verify", hx(r[21:29]))
	}
	blk, _ := aes.NewCipher(sEnc)
	s := &hostSCP{level: level, enc: blk, mac: newCMAC(sMac), rmac: newCMAC(sRMac), chain: make([]byte, 16), counter: 1}
	hostCryptogram := scp03KDF(sMac, 0x01, 64, ctx)
	hdr := []byte{0x84, 0x82, level, 0x00, 0x10}
	full := s.mac.sum(append(append(append([]byte(nil), s.chain...), hdr...), hostCryptogram...))
	ea := append(append(hdr, hostCryptogram...), full[:8]...)
	resp = h.send(ea)
	if swOf(resp) == swOK {
		s.chain = full
		h.scp = s
	}
	return swOf(resp)
}

func (h *cccdHost) mustOpenSCP03(keys scp03Keys) {
	h.tb.Helper()
	if sw := h.openSCP03(keys, 0x33); sw != swOK {
		h.tb.Fatalf("SCP03 at level 33: SW %04X", sw)
	}
}

// wrap protects a command: C-DECRYPTION of the data (IV = E(S-ENC,
// counter)), C-MAC over chaining value ‖ header with the final Lc ‖ data.
func (s *hostSCP) wrap(cla, ins, p1, p2 byte, data []byte, ne int, ext bool) []byte {
	cla |= 0x04
	if s.level&0x02 != 0 && len(data) > 0 {
		var iv [16]byte
		for i := 0; i < 8; i++ {
			iv[15-i] = byte(s.counter >> (8 * i))
		}
		s.enc.Encrypt(iv[:], iv[:])
		p := padBlock(data, 16)
		out := make([]byte, len(p))
		cipher.NewCBCEncrypter(s.enc, iv[:]).CryptBlocks(out, p)
		data = out
	}
	lc := len(data) + 8
	ext = ext || lc > 255 || ne > 256
	in := append(append([]byte(nil), s.chain...), cla, ins, p1, p2)
	if ext {
		in = append(in, 0x00, byte(lc>>8), byte(lc))
	} else {
		in = append(in, byte(lc))
	}
	in = append(in, data...)
	full := s.mac.sum(in)
	s.chain = full
	return buildAPDU(cla, ins, p1, p2, append(append([]byte(nil), data...), full[:8]...), ne, ext)
}

// unwrap checks a response: an error status word alone; otherwise R-MAC
// over chaining value ‖ data ‖ SW, then R-ENC (IV = E(S-ENC, 80 ‖ counter)).
func (s *hostSCP) unwrap(resp []byte) ([]byte, uint16, error) {
	defer func() { s.counter++ }()
	sw := swOf(resp)
	body := resp[:len(resp)-2]
	if sw != swOK && sw>>8 != 0x62 && sw>>8 != 0x63 {
		if len(body) != 0 {
			return nil, sw, fmt.Errorf("error SW %04X with %d data bytes", sw, len(body))
		}
		return nil, sw, nil
	}
	if s.level&0x10 != 0 {
		if len(body) < 8 {
			return nil, sw, errors.New("no R-MAC")
		}
		data, mac := body[:len(body)-8], body[len(body)-8:]
		in := append(append(append([]byte(nil), s.chain...), data...), byte(sw>>8), byte(sw))
		if subtle.ConstantTimeCompare(s.rmac.sum(in)[:8], mac) != 1 {
			return nil, sw, errors.New("R-MAC wrong")
		}
		body = data
	}
	if s.level&0x20 != 0 && len(body) > 0 {
		var iv [16]byte
		for i := 0; i < 8; i++ {
			iv[15-i] = byte(s.counter >> (8 * i))
		}
		iv[0] = 0x80
		s.enc.Encrypt(iv[:], iv[:])
		if len(body)%16 != 0 {
			return nil, sw, errors.New("R-ENC data not whole blocks")
		}
		out := make([]byte, len(body))
		cipher.NewCBCDecrypter(s.enc, iv[:]).CryptBlocks(out, body)
		var ok bool
		if body, ok = unpadBlock(out, 16); !ok {
			return nil, sw, errors.New("R-ENC padding wrong")
		}
	}
	return body, sw, nil
}

// scpSend wraps, sends and unwraps one command of the SCP03 session.
func (h *cccdHost) scpSend(ins, p1, p2 byte, data []byte, ne int) ([]byte, uint16) {
	h.tb.Helper()
	if h.scp == nil {
		h.tb.Fatal("no SCP03 session")
	}
	resp := h.send(h.scp.wrap(0x00, ins, p1, p2, data, ne, true))
	d, sw, err := h.scp.unwrap(resp)
	if err != nil {
		h.tb.Fatalf("SCP03 %02X %02X%02X: %v (%s)", ins, p1, p2, err, hx(resp))
	}
	return d, sw
}

func (h *cccdHost) scpExpect(what string, ins, p1, p2 byte, data []byte, ne int, want uint16) []byte {
	h.tb.Helper()
	d, sw := h.scpSend(ins, p1, p2, data, ne)
	if sw != want {
		h.tb.Fatalf("%s (SCP03): SW %04X, want %04X", what, sw, want)
	}
	return d
}

// ---- the station's personalization script (cccd.md §4) ----

// fcp is the FCP template of CREATE FILE (cccd.md §4 steps 4, 6).
func fcp(fid uint16, size int) []byte {
	var in []byte
	in = appendTLV(in, 0x80, []byte{byte(size >> 8), byte(size)})
	in = appendTLV(in, 0x82, []byte{0x01})
	in = appendTLV(in, 0x83, []byte{byte(fid >> 8), byte(fid)})
	in = appendTLV(in, 0x8C, []byte{0x03, 0xFF, 0x00})
	return appendTLV(nil, 0x62, in)
}

// Chunk sizes for ModelCCCD at level 33: writes leave 16 bytes of padding
// room and 8 of C-MAC; reads leave the R-MAC and the R-ENC padding.
const (
	cccdWriteChunk = 2048 - 16 - 8
	cccdReadChunk  = (2048-8)/16*16 - 1
)

// scpWriteFile creates an EF at its exact size, selects it, writes it in
// chunks, reads it back and compares (cccd.md §4 step 5).
func (h *cccdHost) scpWriteFile(fid uint16, content []byte) {
	h.tb.Helper()
	h.scpExpect(fmt.Sprintf("CREATE FILE %04X", fid), 0xE0, 0x00, 0x00, fcp(fid, len(content)), 0, swOK)
	h.scpExpect(fmt.Sprintf("SELECT %04X", fid), 0xA4, 0x02, 0x0C, []byte{byte(fid >> 8), byte(fid)}, 0, swOK)
	for off := 0; off < len(content); off += cccdWriteChunk {
		end := min(off+cccdWriteChunk, len(content))
		h.scpExpect(fmt.Sprintf("UPDATE BINARY %04X@%d", fid, off), 0xD6, byte(off>>8), byte(off), content[off:end], 0, swOK)
	}
	if got := h.scpReadFile(fid, len(content)); !bytes.Equal(got, content) {
		h.tb.Fatalf("file %04X read back differs:\n got %s\nwant %s", fid, hx(got), hx(content))
	}
}

// scpReadFile reads the current EF (size bytes) inside SCP03.
func (h *cccdHost) scpReadFile(fid uint16, size int) []byte {
	h.tb.Helper()
	var out []byte
	for len(out) < size {
		n := min(cccdReadChunk, size-len(out))
		d := h.scpExpect(fmt.Sprintf("READ BINARY %04X@%d", fid, len(out)), 0xB0, byte(len(out)>>8), byte(len(out)), nil, n, swOK)
		if len(d) == 0 {
			h.tb.Fatalf("READ BINARY %04X@%d: no progress", fid, len(out))
		}
		out = append(out, d...)
	}
	return out
}

func generateAPDUData(ref byte, curve *ecCurve) []byte {
	d := appendTLV(nil, 0x84, []byte{ref})
	return appendTLV(d, 0x06, curve.oid)
}

// generate asks for a key pair and returns the public point.
func (h *cccdHost) generate(ref byte, curve *ecCurve) []byte {
	h.tb.Helper()
	d := h.scpExpect(fmt.Sprintf("GENERATE key %02X", ref), 0x47, 0x80, 0x00, generateAPDUData(ref, curve), 256, swOK)
	in, ok := singleTemplate(d, 0x7F49)
	if !ok {
		h.tb.Fatalf("GENERATE answered %s, want 7F49", hx(d))
	}
	dos, ok := dataObjects(in, 0x06, 0x86)
	if !ok || !bytes.Equal(dos[0x06], curve.oid) {
		h.tb.Fatalf("GENERATE answered %s: want 06 <curve> 86 <point>", hx(d))
	}
	if _, _, ok := curve.decodePoint(dos[0x86]); !ok {
		h.tb.Fatalf("GENERATE: %s is not a point of %s", hx(dos[0x86]), curve.name)
	}
	return dos[0x86]
}

func canData(can string) []byte { return appendTLV(nil, 0x63, appendTLV(nil, 0x04, []byte(can))) }

// efCardAccessReal is EF.CardAccess as real CCCD chips carry it
// (chip-data.md §1): TA, CA (ECDH, AES-128), PACE (ECDH-GM-AES-128, 13).
const efCardAccessReal = "3134300d060804007f0007020202020101300f060a04007f000702020302020201013012060a04007f0007020204020202010202010d"

// cccdImage is what the test station writes to a cccd chip.
type cccdImage struct {
	early   []uint16 // EF.CardAccess and the content data groups, in order
	files   map[uint16][]byte
	mrz     mrzTriple
	can     string
	caCurve *ecCurve
	aaCurve *ecCurve
}

func testCCCDImage(tb testing.TB) cccdImage {
	img := cccdImage{files: map[uint16][]byte{}, mrz: cccdMRZ, can: "001234",
		caCurve: curveBrainpoolP256r1, aaCurve: curveBrainpoolP256r1}
	img.files[fidCardAccess] = unhex(tb, efCardAccessReal)
	for _, f := range []struct {
		fid  uint16
		size int
	}{{0x0101, 95}, {0x0102, 20000}, {0x0103, 3000}, {0x010D, 1400}} {
		img.files[f.fid] = pattern(f.fid, f.size)
	}
	img.early = []uint16{fidCardAccess, 0x0101, 0x0102, 0x0103, 0x010D}
	return img
}

// late builds the files written after the keys (cccd.md §4 step 9): DG14
// (SecurityInfos stand-in carrying the CA key), DG15 (the AA key), EF.COM,
// EF.SOD (last).
func (img cccdImage) late(caPub, aaPub []byte) []uint16 {
	img.files[0x010E] = appendTLV(nil, 0x6E, append(unhexMust(efCardAccessReal), caPub...))
	img.files[0x010F] = appendTLV(nil, 0x6F, aaPub)
	img.files[0x011E] = appendTLV(nil, 0x60, []byte{0x5F, 0x01, 0x04, '0', '1', '0', '7', 0x5C, 0x06, 0x61, 0x75, 0x63, 0x6D, 0x6E, 0x6F})
	img.files[0x011D] = pattern(0x011D, 2500)
	return []uint16{0x010E, 0x010F, 0x011E, 0x011D}
}

func unhexMust(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// cccdResult is what the personalization left for verification.
type cccdResult struct {
	caPub, aaPub []byte
}

// personalize runs cccd.md §4 on a blank chip: select, SCP03 at level 33,
// the early files, both keys, the late files, MRZ, CAN, ACTIVATE FILE.
func (h *cccdHost) personalize(img cccdImage, keys scp03Keys) cccdResult {
	h.tb.Helper()
	h.selectApplication()
	h.mustOpenSCP03(keys)
	for _, fid := range img.early {
		h.scpWriteFile(fid, img.files[fid])
	}
	res := cccdResult{
		caPub: h.generate(keyRefCA, img.caCurve),
		aaPub: h.generate(keyRefAA, img.aaCurve),
	}
	for _, fid := range img.late(res.caPub, res.aaPub) {
		h.scpWriteFile(fid, img.files[fid])
	}
	h.scpExpect("PUT DATA MRZ", 0xDA, 0x00, 0x62, mrzData(img.mrz), 0, swOK)
	h.scpExpect("PUT DATA CAN", 0xDA, 0x00, 0x63, canData(img.can), 0, swOK)
	h.scpExpect("ACTIVATE FILE", 0x44, 0x00, 0x00, nil, 0, swOK)
	return res
}

// personalizedCCCD returns an operational chip (after a reset) and what
// verification needs.
func personalizedCCCD(tb testing.TB, opts ...Option) (*Chip, cccdImage, cccdResult) {
	tb.Helper()
	c := New(ModelCCCD, opts...)
	img := testCCCDImage(tb)
	res := newCCCDHost(tb, c).personalize(img, c.scpKeys)
	c.Reset()
	return c, img, res
}

// ---- the reader's side: secure messaging (ICAO 9303-11 §9.8) ----

type hostSM struct {
	bs      int
	ssc     []byte
	encrypt func(ssc, data []byte) []byte
	decrypt func(ssc, data []byte) []byte
	mac     func(msg []byte) []byte // pads, 8 bytes
}

func newHostSMAES(ksEnc, ksMac []byte) *hostSM {
	blk, _ := aes.NewCipher(ksEnc)
	iv := func(ssc []byte) []byte {
		out := make([]byte, 16)
		blk.Encrypt(out, ssc)
		return out
	}
	return &hostSM{
		bs:  16,
		ssc: make([]byte, 16),
		encrypt: func(ssc, d []byte) []byte {
			out := make([]byte, len(d))
			cipher.NewCBCEncrypter(blk, iv(ssc)).CryptBlocks(out, d)
			return out
		},
		decrypt: func(ssc, d []byte) []byte {
			out := make([]byte, len(d))
			cipher.NewCBCDecrypter(blk, iv(ssc)).CryptBlocks(out, d)
			return out
		},
		mac: func(msg []byte) []byte { return aesCMAC(ksMac, padBlock(msg, 16))[:8] },
	}
}

func newHostSM3DES(ksEnc, ksMac, ssc []byte) *hostSM {
	return &hostSM{
		bs:      8,
		ssc:     append([]byte(nil), ssc...),
		encrypt: func(_, d []byte) []byte { return cbcEncrypt(newTDES(ksEnc), d) },
		decrypt: func(_, d []byte) []byte { return cbcDecrypt(newTDES(ksEnc), d) },
		mac:     func(msg []byte) []byte { return newRetailMAC(ksMac).sum(msg) },
	}
}

func (s *hostSM) inc() {
	for i := len(s.ssc) - 1; i >= 0; i-- {
		s.ssc[i]++
		if s.ssc[i] != 0 {
			return
		}
	}
}

// wrap builds a protected command: '87', '97', '8E'; outer Le 00 (0000
// extended).
func (s *hostSM) wrap(cla, ins, p1, p2 byte, data []byte, ne int, ext bool) []byte {
	s.inc()
	hdr := []byte{cla | 0x0C, ins, p1, p2}
	var dos []byte
	if len(data) > 0 {
		dos = appendTLV(dos, 0x87, append([]byte{0x01}, s.encrypt(s.ssc, padBlock(data, s.bs))...))
	}
	if ne > 0 {
		le := []byte{byte(ne)}
		if ne > 256 {
			le = []byte{byte(ne >> 8), byte(ne)}
		}
		dos = appendTLV(dos, 0x97, le)
	}
	in := append(append(append([]byte(nil), s.ssc...), padBlock(hdr, s.bs)...), dos...)
	dos = appendTLV(dos, 0x8E, s.mac(in))
	outer := 256
	if ext {
		outer = 65536
	}
	return buildAPDU(hdr[0], ins, p1, p2, dos, outer, ext)
}

func (s *hostSM) unwrap(resp []byte) ([]byte, uint16, error) {
	sw := swOf(resp)
	body := resp[:len(resp)-2]
	if len(body) == 0 {
		return nil, sw, errUnprotected
	}
	s.inc()
	var raw87, raw99, mac, cg []byte
	for rest := body; len(rest) > 0; {
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
	in := append(append(append([]byte(nil), s.ssc...), raw87...), raw99...)
	if subtle.ConstantTimeCompare(s.mac(in), mac) != 1 {
		return nil, sw, errors.New("response MAC wrong")
	}
	if cg == nil {
		return nil, sw, nil
	}
	if len(cg) < 1+s.bs || cg[0] != 0x01 {
		return nil, sw, errors.New("bad DO'87'")
	}
	data, ok := unpadBlock(s.decrypt(s.ssc, cg[1:]), s.bs)
	if !ok {
		return nil, sw, errors.New("bad padding")
	}
	return data, sw, nil
}

func (h *cccdHost) smSend(ins, p1, p2 byte, data []byte, ne int) ([]byte, uint16, error) {
	h.tb.Helper()
	if h.sm == nil {
		h.tb.Fatal("no secure messaging session")
	}
	return h.sm.unwrap(h.send(h.sm.wrap(0x00, ins, p1, p2, data, ne, true)))
}

func (h *cccdHost) smExpect(what string, ins, p1, p2 byte, data []byte, ne int, want uint16) []byte {
	h.tb.Helper()
	d, sw, err := h.smSend(ins, p1, p2, data, ne)
	if err != nil {
		h.tb.Fatalf("%s: SW %04X: %v", what, sw, err)
	}
	if sw != want {
		h.tb.Fatalf("%s: SW %04X, want %04X", what, sw, want)
	}
	return d
}

// smReadFile selects and reads a whole EF under secure messaging.
func (h *cccdHost) smReadFile(fid uint16) []byte {
	h.tb.Helper()
	h.smExpect(fmt.Sprintf("SM SELECT %04X", fid), 0xA4, 0x02, 0x0C, []byte{byte(fid >> 8), byte(fid)}, 0, swOK)
	var out []byte
	for {
		d, sw, err := h.smSend(0xB0, byte(len(out)>>8), byte(len(out)), nil, 2000)
		if err != nil {
			h.tb.Fatalf("SM READ BINARY %04X@%d: %v", fid, len(out), err)
		}
		switch sw {
		case swOK:
			out = append(out, d...)
		case swEndOfFile:
			return append(out, d...)
		case swWrongP1P2:
			return out
		default:
			h.tb.Fatalf("SM READ BINARY %04X@%d: SW %04X", fid, len(out), sw)
		}
	}
}

// ---- PACE, the terminal's side (ICAO 9303-11 §4.4) ----

// paceKeyOf is K_π as the terminal derives it.
func paceKeyOf(ref byte, m mrzTriple, can string) []byte {
	if ref == pacePasswordCAN {
		return icaoKDFAES128([]byte(can), 3)
	}
	info := keySeedInput{m.doc, m.dob, m.exp}.information()
	h := sha1.Sum(info)
	return icaoKDFAES128(h[:], 3)
}

func hostPublicKeyDO(point []byte) []byte {
	return appendTLV(nil, 0x7F49, append(appendTLV(nil, 0x06, oidPACE), appendTLV(nil, 0x86, point)...))
}

// pace runs PACE with a password and returns the status word of the step
// that failed, or 9000 with h.sm set.
func (h *cccdHost) pace(ref byte, kPi []byte) uint16 {
	h.tb.Helper()
	h.sm = nil
	cv := curveBrainpoolP256r1
	curve := cv.curve
	mse := append(appendTLV(nil, 0x80, oidPACE), appendTLV(nil, 0x83, []byte{ref})...)
	mse = appendTLV(mse, 0x84, []byte{13})
	if resp := h.send(buildAPDU(0x00, 0x22, 0xC1, 0xA4, mse, 0, false)); swOf(resp) != swOK {
		return swOf(resp)
	}
	ga := func(chained bool, inner []byte) ([]byte, uint16) {
		cla := byte(0x00)
		if chained {
			cla = 0x10
		}
		resp := h.send(buildAPDU(cla, 0x86, 0x00, 0x00, appendTLV(nil, 0x7C, inner), 256, false))
		if swOf(resp) != swOK {
			return nil, swOf(resp)
		}
		v, ok := singleTemplate(resp[:len(resp)-2], 0x7C)
		if !ok {
			h.tb.Fatalf("GENERAL AUTHENTICATE answered %s", hx(resp))
		}
		return v, swOK
	}
	field := func(in []byte, tag uint32) []byte {
		v, ok := singleTemplate(in, tag)
		if !ok {
			h.tb.Fatalf("GENERAL AUTHENTICATE: want tag %X in %s", tag, hx(in))
		}
		return v
	}
	// 1: the encrypted nonce.
	in, sw := ga(true, nil)
	if sw != swOK {
		return sw
	}
	z := field(in, 0x80)
	s := make([]byte, 16)
	blk, _ := aes.NewCipher(kPi)
	cipher.NewCBCDecrypter(blk, make([]byte, 16)).CryptBlocks(s, z)
	// 2: Generic Mapping.
	skMap, _ := cv.randomScalar(rand.Reader)
	mx, my := curve.ScalarBaseMult(cv.fe2os(skMap))
	in, sw = ga(true, appendTLV(nil, 0x81, cv.encodePoint(mx, my)))
	if sw != swOK {
		return sw
	}
	cx, cy, ok := cv.decodePoint(field(in, 0x82))
	if !ok {
		h.tb.Fatal("chip mapping key is not a point")
	}
	hX, hY := curve.ScalarMult(cx, cy, cv.fe2os(skMap))
	sX, sY := curve.ScalarBaseMult(s)
	gX, gY := curve.Add(sX, sY, hX, hY)
	// 3: key agreement on the mapped generator.
	skEph, _ := cv.randomScalar(rand.Reader)
	ex, ey := curve.ScalarMult(gX, gY, cv.fe2os(skEph))
	myPub := cv.encodePoint(ex, ey)
	in, sw = ga(true, appendTLV(nil, 0x83, myPub))
	if sw != swOK {
		return sw
	}
	chipPub := field(in, 0x84)
	px, py, ok := cv.decodePoint(chipPub)
	if !ok {
		h.tb.Fatal("chip ephemeral key is not a point")
	}
	kx, _ := curve.ScalarMult(px, py, cv.fe2os(skEph))
	k := cv.fe2os(kx)
	ksEnc, ksMac := icaoKDFAES128(k, 1), icaoKDFAES128(k, 2)
	// 4: mutual authentication.
	tPCD := aesCMAC(ksMac, hostPublicKeyDO(chipPub))[:8]
	in, sw = ga(false, appendTLV(nil, 0x85, tPCD))
	if sw != swOK {
		return sw
	}
	if got, want := field(in, 0x86), aesCMAC(ksMac, hostPublicKeyDO(myPub))[:8]; !bytes.Equal(got, want) {
		h.tb.Fatalf("PACE: T_PICC %s, want %s", hx(got), hx(want))
	}
	h.sm = newHostSMAES(ksEnc, ksMac)
	return swOK
}

func (h *cccdHost) mustPACE(ref byte, kPi []byte) {
	h.tb.Helper()
	if sw := h.pace(ref, kPi); sw != swOK {
		h.tb.Fatalf("PACE failed with SW %04X", sw)
	}
}

// bac runs BAC (ICAO 9303-11 §4.3) with 3DES secure messaging.
func (h *cccdHost) bac(m mrzTriple) uint16 {
	h.tb.Helper()
	h.sm = nil
	kEnc, kMac := keySeedInput{m.doc, m.dob, m.exp}.bacKeys()
	resp := h.send(buildAPDU(0x00, 0x84, 0x00, 0x00, nil, 8, false))
	if swOf(resp) != swOK {
		return swOf(resp)
	}
	rndIC := resp[:8]
	rndIFD, kIFD := make([]byte, 8), make([]byte, 16)
	rand.Read(rndIFD)
	rand.Read(kIFD)
	s := append(append(append([]byte(nil), rndIFD...), rndIC...), kIFD...)
	eIFD := cbcEncrypt(newTDES(kEnc), s)
	resp = h.send(buildAPDU(0x00, 0x82, 0x00, 0x00, append(eIFD, newRetailMAC(kMac).sum(eIFD)...), 40, false))
	if swOf(resp) != swOK {
		return swOf(resp)
	}
	rr := cbcDecrypt(newTDES(kEnc), resp[:32])
	seed := make([]byte, 16)
	subtle.XORBytes(seed, kIFD, rr[16:32])
	h.sm = newHostSM3DES(deriveKey(seed, 1), deriveKey(seed, 2), append(append([]byte(nil), rndIC[4:]...), rndIFD[4:]...))
	return swOK
}

// chipAuthentication runs CA (ICAO 9303-11 §6.2) against the chip's CA
// public key and switches to the new session.
func (h *cccdHost) chipAuthentication(caPub []byte, curve *ecCurve, withKeyRef bool) {
	h.tb.Helper()
	mse := appendTLV(nil, 0x80, oidCA)
	if withKeyRef {
		mse = appendTLV(mse, 0x84, []byte{0x01})
	}
	h.smExpect("MSE:Set AT CA", 0x22, 0x41, 0xA4, mse, 0, swOK)
	sk, _ := curve.randomScalar(rand.Reader)
	x, y := curve.curve.ScalarBaseMult(curve.fe2os(sk))
	d := h.smExpect("GENERAL AUTHENTICATE CA", 0x86, 0x00, 0x00,
		appendTLV(nil, 0x7C, appendTLV(nil, 0x80, curve.encodePoint(x, y))), 256, swOK)
	if !bytes.Equal(d, []byte{0x7C, 0x00}) {
		h.tb.Fatalf("CA answered %s, want 7C00", hx(d))
	}
	px, py, ok := curve.decodePoint(caPub)
	if !ok {
		h.tb.Fatal("CA public key is not a point")
	}
	kx, _ := curve.curve.ScalarMult(px, py, curve.fe2os(sk))
	k := curve.fe2os(kx)
	h.sm = newHostSMAES(icaoKDFAES128(k, 1), icaoKDFAES128(k, 2))
}

// activeAuthentication sends a fresh challenge and verifies the plain
// ECDSA signature over SHA-256 of it with the AA public key.
func (h *cccdHost) activeAuthentication(aaPub []byte, curve *ecCurve) {
	h.tb.Helper()
	challenge := make([]byte, 8)
	rand.Read(challenge)
	sig := h.smExpect("INTERNAL AUTHENTICATE", 0x88, 0x00, 0x00, challenge, 256, swOK)
	if err := verifyECDSAPlain(aaPub, curve, challenge, sig); err != nil {
		h.tb.Fatalf("Active Authentication: %v", err)
	}
}

func verifyECDSAPlain(pub []byte, curve *ecCurve, challenge, sig []byte) error {
	x, y, ok := curve.decodePoint(pub)
	if !ok {
		return errors.New("AA public key is not a point")
	}
	n := curve.size()
	if len(sig) != 2*n {
		return fmt.Errorf("signature of %d bytes, want %d", len(sig), 2*n)
	}
	digest := sha256.Sum256(challenge)
	r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
	if !ecdsa.Verify(&ecdsa.PublicKey{Curve: curve.curve, X: x, Y: y}, digest[:], r, s) {
		return errors.New("signature does not verify")
	}
	return nil
}
