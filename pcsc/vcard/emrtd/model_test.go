package emrtd

import (
	"testing"
	"time"
)

// TestModelATRsAreTheAgreedBytes pins the ATRs the station's chip-product
// table must carry.
func TestModelATRsAreTheAgreedBytes(t *testing.T) {
	for _, tc := range []struct {
		model Model
		want  string
	}{
		{ModelExt144, "3B8B800180" + "73C821C0" + "564358313434" + "AC"},
		{ModelShort80, "3B8B800180" + "73C82180" + "564353303830" + "EE"},
		{ModelCCCD, "3B8B800180" + "73C821C0" + "564343434431" + "B0"},
	} {
		t.Run(tc.model.Name, func(t *testing.T) {
			if got := hx(tc.model.ATR); got != tc.want {
				t.Errorf("ATR\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestModelATRsAreWellFormedAndAdvertiseT1 parses each ATR per ISO/IEC
// 7816-3 §8.2: T0 counts the historical bytes, an interface byte offers T=1,
// the TCK makes the XOR of T0..TCK zero, and the card capabilities declare
// extended length exactly when the model supports it.
func TestModelATRsAreWellFormedAndAdvertiseT1(t *testing.T) {
	for _, m := range Models {
		t.Run(m.Name, func(t *testing.T) {
			atr := m.ATR
			if atr[0] != 0x3B {
				t.Fatalf("TS %02X, want 3B (direct convention)", atr[0])
			}
			k := int(atr[1] & 0x0F)
			i, y := 2, atr[1]>>4
			t1 := false
			for y != 0 {
				if y&1 != 0 { // TA
					i++
				}
				if y&2 != 0 { // TB
					i++
				}
				if y&4 != 0 { // TC
					i++
				}
				if y&8 == 0 {
					break
				}
				td := atr[i]
				i++
				if td&0x0F == 1 {
					t1 = true
				}
				y = td >> 4
			}
			if !t1 {
				t.Errorf("ATR %s does not offer T=1", hx(atr))
			}
			hist := atr[i : i+k]
			if len(atr) != i+k+1 {
				t.Fatalf("ATR %s: %d bytes after the interface bytes, want %d historical + TCK", hx(atr), len(atr)-i, k)
			}
			var x byte
			for _, b := range atr[1:] {
				x ^= b
			}
			if x != 0 {
				t.Errorf("ATR %s: XOR of T0..TCK = %02X, want 00", hx(atr), x)
			}
			if hist[0] != 0x80 || hist[1] != 0x73 {
				t.Fatalf("historical bytes %s: want category 80 then card capabilities 73", hx(hist))
			}
			third := hist[4]
			if third&0x80 == 0 {
				t.Errorf("card capabilities %s: command chaining (b8) not declared", hx(hist[1:5]))
			}
			if got := third&0x40 != 0; got != m.ExtendedLength {
				t.Errorf("card capabilities %s: extended length b7 = %t, model says %t", hx(hist[1:5]), got, m.ExtendedLength)
			}
		})
	}
}

func TestModelByNameFindsEveryModelAndReturnsACopy(t *testing.T) {
	for _, m := range Models {
		got, ok := ModelByName(m.Name)
		if !ok || got.Name != m.Name {
			t.Fatalf("ModelByName(%q) = %v, %t", m.Name, got.Name, ok)
		}
		got.ATR[0] = 0
		if m.ATR[0] != 0x3B {
			t.Fatalf("ModelByName(%q) shares the ATR slice with Models", m.Name)
		}
	}
	if _, ok := ModelByName("nope"); ok {
		t.Error("ModelByName(nope) found a model")
	}
}

func TestModelsHaveTheAgreedCapacities(t *testing.T) {
	for _, tc := range []struct {
		m                  Model
		eeprom, cmd, resp  int
		ext                bool
		aaBits, fileRoomAt int
	}{
		{ModelExt144, 144 * 1024, 2048, 2048, true, 2048, 144*1024 - 64 - 512},
		{ModelShort80, 80 * 1024, 255, 256, false, 1024, 80*1024 - 64 - 256},
		{ModelCCCD, 144 * 1024, 2048, 2048, true, 0, 144*1024 - 512},
	} {
		m := tc.m
		if m.EEPROM != tc.eeprom || m.MaxCommandData != tc.cmd || m.MaxResponseData != tc.resp ||
			m.ExtendedLength != tc.ext || m.MaxAAKeyBits != tc.aaBits || m.FileCapacity() != tc.fileRoomAt {
			t.Errorf("%s: EEPROM %d cmd %d resp %d ext %t AA %d files %d; want %d %d %d %t %d %d", m.Name,
				m.EEPROM, m.MaxCommandData, m.MaxResponseData, m.ExtendedLength, m.MaxAAKeyBits, m.FileCapacity(),
				tc.eeprom, tc.cmd, tc.resp, tc.ext, tc.aaBits, tc.fileRoomAt)
		}
	}
}

// TestLatencyCostAddsEveryTerm checks the latency model's arithmetic (not
// wall-clock time: speed is measured by benchmarks).
func TestLatencyCostAddsEveryTerm(t *testing.T) {
	l := Latency{PerCommand: time.Millisecond, PerByte: time.Microsecond, PerEEPROMByte: 10 * time.Microsecond,
		PerKey: 5 * time.Millisecond, PerRSA1024: 100 * time.Millisecond, PerECKeyGen: 200 * time.Millisecond,
		PerECOp: 7 * time.Millisecond}
	u := Usage{Commands: 2, BytesIn: 100, BytesOut: 50, EEPROMBytes: 30, Keys: 1, RSAOps: map[int]int{1024: 1, 2048: 1},
		ECKeyGens: 2, ECOps: 3}
	want := 2*time.Millisecond + 150*time.Microsecond + 300*time.Microsecond + 5*time.Millisecond +
		100*time.Millisecond + 800*time.Millisecond + 400*time.Millisecond + 21*time.Millisecond
	if got := l.Cost(u); got != want {
		t.Errorf("Cost = %v, want %v", got, want)
	}
	if LatencyOff.Cost(u) != 0 || !LatencyOff.IsZero() {
		t.Error("LatencyOff costs something")
	}
}

// TestUsageCountsWhatTheChipDid checks that Usage feeds the latency model
// with the bytes, EEPROM writes, keys and RSA operations of a session.
func TestUsageCountsWhatTheChipDid(t *testing.T) {
	c := New(ModelShort80)
	r := newReader(t, c)
	r.selectApplet()                                                            // 12 + 2 bytes
	r.expect("CREATE", createFileAPDU(0x0101, 100), swOK)                       // 11 + 2, 100 EEPROM
	r.expect("SELECT", selectFileAPDU(0x0101), swOK)                            // 7 + 2
	r.expect("UPDATE", updateBinaryAPDU(0, make([]byte, 40)), swOK)             // 45 + 2, 40 EEPROM
	r.expect("READ", readBinaryAPDU(0, 10), swOK)                               // 5 + 12
	r.expect("MRZ", putMRZAPDU(cccdMRZ), swOK)                                  // key
	r.putAAKey(testKey(t, 1024))                                                // 2 keys
	r.expect("AA", buildAPDU(0, 0x88, 0, 0, make([]byte, 8), 256, false), swOK) // RSA 1024
	u := c.Usage()
	if u.Commands != 9 || u.Keys != 3 || u.RSAOps[1024] != 1 {
		t.Errorf("Usage = %+v: want 9 commands, 3 keys, 1 RSA-1024 operation", u)
	}
	if u.EEPROMBytes < 140 {
		t.Errorf("EEPROMBytes = %d, want at least 140 (100 created + 40 written)", u.EEPROMBytes)
	}
	if u.BytesIn < 12+11+7+45+5 || u.BytesOut < 2+2+2+2+12 {
		t.Errorf("BytesIn %d, BytesOut %d: too few", u.BytesIn, u.BytesOut)
	}
}
