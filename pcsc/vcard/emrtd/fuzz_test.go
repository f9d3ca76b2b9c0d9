package emrtd

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cccd-station/station/pcsc/vcard"
)

// Fuzz input: one byte choosing the chip's starting state, then APDUs, each
// preceded by its length on two bytes (big-endian, taken modulo 4200 and
// capped by what is left).
//
//	state 0  blank chip (short80)
//	state 1  personalized, not locked (ext144)
//	state 2  personalized and locked (short80)
//	state 3  locked, BAC done: every APDU is wrapped by the test reader
//	         (ext144), so the fuzzer reaches the handlers under SM
//	state 4  personalized, not locked, with faults (removal, memory
//	         failure, tear) (ext144)
//	state 5  cccd, blank, the application selected, SCP03 at level 33:
//	         every APDU is wrapped by the test station
//	state 6  cccd, operational, the application selected, AES secure
//	         messaging as after PACE: every APDU is wrapped by the test
//	         reader (until Chip Authentication changes the keys)
//	state 7  cccd, blank, at power-on, plain
//	state 8  cccd, operational, at power-on, plain
const fuzzStates = 9

var fuzzSaved struct {
	once             sync.Once
	unlocked, locked []byte
	img              image
}

// fuzzFixtures personalizes two chips once and keeps them as JSON; each fuzz
// iteration loads a fresh copy.
func fuzzFixtures(t *testing.T) ([]byte, []byte, image) {
	fuzzSaved.once.Do(func() {
		img := testImage(testKey(t, 1024))
		for _, fid := range []uint16{0x0102, 0x011D} { // keep the fixture small
			img.files[fid] = img.files[fid][:300]
		}
		u := New(ModelExt144, WithSerial(1, 1))
		personalize(t, u, img, 255, false)
		l := New(ModelShort80, WithSerial(2, 2))
		personalize(t, l, img, 255, true)
		var err error
		if fuzzSaved.unlocked, err = u.MarshalJSON(); err != nil {
			t.Fatal(err)
		}
		if fuzzSaved.locked, err = l.MarshalJSON(); err != nil {
			t.Fatal(err)
		}
		fuzzSaved.img = img
	})
	return fuzzSaved.unlocked, fuzzSaved.locked, fuzzSaved.img
}

func mustLoad(t *testing.T, saved []byte, opts ...Option) *Chip {
	t.Helper()
	c, err := Load(saved, opts...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// fuzzInput builds a fuzz input from a state and APDUs (for seeds).
func fuzzInput(state byte, apdus ...[]byte) []byte {
	in := []byte{state}
	for _, a := range apdus {
		in = append(in, byte(len(a)>>8), byte(len(a)))
		in = append(in, a...)
	}
	return in
}

func fuzzSeeds() [][]byte {
	selApplet := buildAPDU(0x00, 0xA4, 0x04, 0x0C, AIDPassport, 0, false)
	return [][]byte{
		fuzzInput(0, []byte{0x80, 0xCA, 0x9F, 0x7F, 0x00}, selApplet, createFileAPDU(0x0101, 20),
			selectFileAPDU(0x0101), updateBinaryAPDU(0, []byte{1, 2, 3}), readBinaryAPDU(0, 0)),
		fuzzInput(0, selApplet, putMRZAPDU(icaoMRZ), lockAPDU(), []byte{0x00, 0x84, 0x00, 0x00, 0x08},
			buildAPDU(0, 0x82, 0, 0, make([]byte, 40), 40, false)),
		fuzzInput(1, selApplet, selectFileAPDU(0x0102), readBinaryAPDU(0, 256),
			buildAPDU(0, 0xB0, 0, 0, nil, 65536, true), buildAPDU(0, 0x88, 0, 0, make([]byte, 8), 256, false)),
		fuzzInput(1, selApplet, buildAPDU(0x10, 0xDA, 0x00, 0x62, mrzData(cccdMRZ)[:7], 0, false),
			buildAPDU(0x00, 0xDA, 0x00, 0x62, mrzData(cccdMRZ)[7:], 0, false)),
		fuzzInput(2, selApplet, selectFileAPDU(0x011E), []byte{0x0C, 0xB0, 0x00, 0x00, 0x0D, 0x97, 0x01, 0x10,
			0x8E, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x00}, []byte{0x00, 0x84, 0x00, 0x00, 0x08}),
		fuzzInput(3, []byte{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x01, 0x01}, []byte{0x00, 0xB0, 0x00, 0x00, 0x00},
			[]byte{0x00, 0xB0, 0x00, 0x10, 0xE7}, buildAPDU(0, 0x88, 0, 0, make([]byte, 8), 256, false),
			[]byte{0x00, 0xE0, 0x00, 0x00, 0x06, 0x63, 0x04, 0x00, 0x10, 0x01, 0x0E}),
		fuzzInput(4, selApplet, selectFileAPDU(0x0101), updateBinaryAPDU(0, make([]byte, 40)),
			selectFileAPDU(0x0102), updateBinaryAPDU(0, make([]byte, 40)), readBinaryAPDU(0, 0)),
		{2, 0, 4, 0, 0xA4, 0x04}, // truncated APDUs
		{1, 0xFF, 0xFF, 0x00},
		fuzzInput(5, buildAPDU(0, 0xE0, 0, 0, fcp(0x011E, 40), 0, false), selectFileAPDU(0x011E),
			updateBinaryAPDU(0, make([]byte, 40)), readBinaryAPDU(0, 0),
			buildAPDU(0, 0x47, 0x80, 0, generateAPDUData(1, curveP256), 256, false),
			buildAPDU(0, 0xDA, 0, 0x63, canData("123456"), 0, false), []byte{0x00, 0x44, 0x00, 0x00}),
		fuzzInput(6, selectFileAPDU(0x011E), readBinaryAPDU(0, 0), buildAPDU(0, 0x88, 0, 0, make([]byte, 8), 256, false),
			buildAPDU(0, 0x22, 0x41, 0xA4, appendTLV(nil, 0x80, oidCA), 0, false),
			buildAPDU(0, 0x86, 0, 0, appendTLV(nil, 0x7C, appendTLV(nil, 0x80, brainpoolG())), 256, false),
			selectFileAPDU(0x0101)),
		fuzzInput(7, []byte{0x80, 0xCA, 0x9F, 0x7F, 0x00}, selectFileAPDU(0x011C), selApplet,
			buildAPDU(0x80, 0x50, 0x30, 0, make([]byte, 8), 256, false),
			buildAPDU(0x84, 0x82, 0x33, 0, make([]byte, 16), 0, false), buildAPDU(0, 0xE0, 0, 0, fcp(0x0101, 10), 0, false)),
		fuzzInput(8, selectFileAPDU(0x011C), readBinaryAPDU(0, 0),
			buildAPDU(0, 0x22, 0xC1, 0xA4, unhexMust("800A04007F00070202040202830102"), 0, false),
			buildAPDU(0x10, 0x86, 0, 0, []byte{0x7C, 0x00}, 256, false),
			buildAPDU(0x10, 0x86, 0, 0, appendTLV(nil, 0x7C, appendTLV(nil, 0x81, brainpoolG())), 256, false),
			[]byte{0x00, 0xA4, 0x00, 0x0C, 0x02, 0x3F, 0x00}),
	}
}

// FuzzProcess feeds arbitrary APDUs to the chip: it never panics, always
// answers a well-formed response (data, then a status word 61xx-6Fxx or
// 90xx) no larger than Ne and the model's maximum, returns ErrRemoved only
// when a fault says so, and every protected response to a protected command
// verifies under the session keys.
func FuzzProcess(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		unlocked, locked, img := fuzzFixtures(t)
		state := in[0] % fuzzStates
		var c *Chip
		switch state {
		case 0:
			c = New(ModelShort80, WithSerial(3, 3))
		case 1:
			c = mustLoad(t, unlocked)
		case 2:
			c = mustLoad(t, locked)
		case 3:
			c = mustLoad(t, unlocked)
		case 4:
			c = mustLoad(t, unlocked, WithFaults(Faults{RemoveAfter: 9, MemoryFailure: AnyFile(10), Tear: AnyFile(100)}))
		case 5, 7:
			c = New(ModelCCCD, WithSerial(5, 5))
		case 6, 8:
			c, _ = operationalCCCD(t)
		}
		r := newReader(t, c)
		h := newCCCDHost(t, c)
		switch state {
		case 3:
			r.selectApplet()
			r.expect("LOCK", lockAPDU(), swOK)
			r.mustBAC(img.mrz)
		case 1, 2, 4:
			r.selectApplet()
		case 5:
			h.selectApplication()
			h.mustOpenSCP03(c.scpKeys)
		case 6:
			// The session PACE would leave, set directly (PACE has its own
			// tests; running it costs ~10 brainpool multiplications).
			ksEnc, ksMac := bytes.Repeat([]byte{0x11}, 16), bytes.Repeat([]byte{0x22}, 16)
			h.selectApplication()
			c.sm, h.sm = newAESSMSession(ksEnc, ksMac), newHostSMAES(ksEnc, ksMac)
		}
		m := c.Model()
		rest := in[1:]
		for n := 0; len(rest) >= 2 && n < 48; n++ {
			l := min((int(rest[0])<<8|int(rest[1]))%4200, len(rest)-2)
			apdu := rest[2 : 2+l]
			rest = rest[2+l:]

			wrapped, scpWrapped := false, false
			if cmd, ok := parseCommand(apdu); ok {
				switch {
				case state == 3 && r.sm != nil:
					apdu = r.sm.wrap(cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data, cmd.ne, cmd.extended || len(cmd.data) > 200)
					wrapped = true
				case state == 5 && h.scp != nil && len(cmd.data) <= c.model.MaxCommandData-24:
					apdu = h.scp.wrap(cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data, cmd.ne, true)
					wrapped, scpWrapped = true, true
				case state == 6 && h.sm != nil && len(cmd.data) <= c.model.MaxCommandData-40:
					apdu = h.sm.wrap(cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data, cmd.ne, true)
					wrapped = true
				}
			}
			smBefore := c.sm
			resp, err := c.Process(apdu)
			if err != nil {
				if !errors.Is(err, vcard.ErrRemoved) || state != 4 {
					t.Fatalf("Process(%s): %v", hx(apdu), err)
				}
				c.PowerOn()
				continue
			}
			if len(resp) < 2 {
				t.Fatalf("Process(%s) = %s: no status word", hx(apdu), hx(resp))
			}
			sw1 := resp[len(resp)-2]
			if !(sw1 >= 0x61 && sw1 <= 0x6F) && sw1 != 0x90 {
				t.Fatalf("Process(%s) = %s: SW1 %02X is not a status byte", hx(apdu), hx(resp), sw1)
			}
			limit := m.MaxResponseData
			if cmd, ok := parseCommand(apdu); ok && !scpWrapped { // SCP03: Le counts the plain answer
				limit = min(limit, cmd.neOrDefault())
			} else if !ok {
				limit = 0
			}
			if len(resp)-2 > limit {
				t.Fatalf("Process(%s) answered %d data bytes, more than %d", hx(apdu), len(resp)-2, limit)
			}
			switch {
			case !wrapped:
			case state == 3 && len(resp) > 2:
				if _, _, err := r.sm.unwrap(resp); err != nil {
					t.Fatalf("protected response %s to %s does not verify: %v", hx(resp), hx(apdu), err)
				}
			case state == 5:
				if c.scp == nil { // the command ended the session (SELECT by AID, C-MAC failure)
					h.scp = nil
					break
				}
				if _, _, err := h.scp.unwrap(resp); err != nil {
					t.Fatalf("SCP03 response %s to %s does not verify: %v", hx(resp), hx(apdu), err)
				}
			case state == 6 && len(resp) > 2:
				if _, _, err := h.sm.unwrap(resp); err != nil {
					t.Fatalf("protected response %s to %s does not verify: %v", hx(resp), hx(apdu), err)
				}
				if c.sm != smBefore { // Chip Authentication: keys the test reader does not have
					h.sm = nil
				}
			case state == 6 && c.sm == nil:
				h.sm = nil
			}
		}
	})
}

// brainpoolG is the generator of brainpoolP256r1: a valid point for the
// seeds' mapping and Chip Authentication keys.
func brainpoolG() []byte {
	p := curveBrainpoolP256r1.curve.Params()
	return curveBrainpoolP256r1.encodePoint(p.Gx, p.Gy)
}

// TestFuzzSeedCorpusIsCheckedIn keeps testdata/fuzz/FuzzProcess in step with
// fuzzSeeds. EMRTD_WRITE_FUZZ_SEEDS=1 (re)writes the files.
func TestFuzzSeedCorpusIsCheckedIn(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzProcess")
	for i, s := range fuzzSeeds() {
		name := filepath.Join(dir, fmt.Sprintf("seed-%02d-state%d", i, s[0]))
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if os.Getenv("EMRTD_WRITE_FUZZ_SEEDS") == "1" {
			if err := os.WriteFile(name, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != want {
			t.Errorf("%s is missing or stale (run with EMRTD_WRITE_FUZZ_SEEDS=1): %v", name, err)
		}
	}
}
