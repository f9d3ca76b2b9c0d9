package emrtd

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cccd-station/station/pcsc/vcard"
)

// The Faults (memory failure, tear, removal) on the cccd model, where every
// write goes through SCP03.

// blankCCCDInSCP03 returns a blank cccd chip with the application selected
// and an SCP03 session at level 33.
func blankCCCDInSCP03(t *testing.T, opts ...Option) (*Chip, *cccdHost) {
	t.Helper()
	c := New(ModelCCCD, opts...)
	h := newCCCDHost(t, c)
	h.selectApplication()
	h.mustOpenSCP03(c.scpKeys)
	return c, h
}

func TestCCCDMemoryFailureAnswers6581AndWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     *WriteFault
		fid       uint16
		off, n    int
		wantFault bool
	}{
		{"range covering the offset in any file", AnyFile(50), 0x0101, 40, 20, true},
		{"range ending just before the offset", AnyFile(50), 0x0101, 40, 10, false},
		{"EF.CardAccess in the MF", InFile(fidCardAccess, 5), fidCardAccess, 0, 20, true},
		{"another file", InFile(0x0102, 50), 0x0101, 0, 100, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, h := blankCCCDInSCP03(t, WithFaults(Faults{MemoryFailure: tc.fault}))
			h.scpExpect("CREATE", 0xE0, 0, 0, fcp(tc.fid, 200), 0, swOK)
			data := bytes.Repeat([]byte{0xA5}, tc.n)
			want := uint16(swOK)
			if tc.wantFault {
				want = swMemoryFailure
			}
			h.scpExpect("UPDATE", 0xD6, byte(tc.off>>8), byte(tc.off), data, 0, want)
			got := h.scpReadFile(tc.fid, 200)
			expected := make([]byte, 200)
			if !tc.wantFault {
				copy(expected[tc.off:], data)
			}
			if !bytes.Equal(got, expected) {
				t.Errorf("file after the write:\n got %s\nwant %s", hx(got), hx(expected))
			}
			if tc.wantFault {
				h.scpExpect("UPDATE again (the cell stays bad)", 0xD6, byte(tc.off>>8), byte(tc.off), data, 0, swMemoryFailure)
			}
		})
	}
}

func TestCCCDTearWritesOnlyTheBytesBeforeTheOffset(t *testing.T) {
	c, h := blankCCCDInSCP03(t, WithFaults(Faults{Tear: InFile(0x0102, 3000)}))
	content := pattern(0x0102, 5000)
	h.scpExpect("CREATE", 0xE0, 0, 0, fcp(0x0102, len(content)), 0, swOK)
	h.scpExpect("UPDATE 0-1999", 0xD6, 0, 0, content[:2000], 0, swOK)
	resp, err := c.Process(h.scp.wrap(0x00, 0xD6, 2000>>8, 2000&0xFF, content[2000:4000], 0, true))
	if !errors.Is(err, vcard.ErrRemoved) || resp != nil {
		t.Fatalf("torn UPDATE: %s, %v; want ErrRemoved", hx(resp), err)
	}
	if _, err := c.Process(unhex(t, "80CA9F7F00")); !errors.Is(err, vcard.ErrRemoved) {
		t.Fatalf("APDU after the tear: %v, want ErrRemoved until reinsertion", err)
	}
	c.PowerOn()
	h.selectApplication()
	h.mustOpenSCP03(c.scpKeys) // the session did not survive
	h.scpExpect("SELECT", 0xA4, 0x02, 0x0C, []byte{0x01, 0x02}, 0, swOK)
	want := make([]byte, len(content))
	copy(want, content[:3000])
	if got := h.scpReadFile(0x0102, len(content)); !bytes.Equal(got, want) {
		t.Fatalf("file after the tear: %d bytes differ", countDiff(got, want))
	}
	if !c.Written() {
		t.Error("Written() = false after a torn write")
	}
	h.scpExpect("UPDATE 2000-3999 again", 0xD6, 2000>>8, 2000&0xFF, content[2000:4000], 0, swOK)
}

func TestCCCDRemovalAfterNAPDUsEndsTheSession(t *testing.T) {
	c, h := blankCCCDInSCP03(t, WithFaults(Faults{RemoveAfter: 5})) // SELECT, IU, EA
	h.scpExpect("CREATE", 0xE0, 0, 0, fcp(0x0101, 10), 0, swOK)     // 4
	h.scpExpect("SELECT", 0xA4, 0x02, 0x0C, []byte{1, 1}, 0, swOK)  // 5
	if _, err := c.Process(h.scp.wrap(0x00, 0xD6, 0, 0, []byte{1}, 0, true)); !errors.Is(err, vcard.ErrRemoved) {
		t.Fatalf("APDU 6: %v, want ErrRemoved", err)
	}
	c.PowerOn()
	h.expect("a wrapped APDU after reinsertion", h.scp.wrap(0x00, 0xD6, 0, 0, []byte{1}, 0, true), swSMNotSupported)
}

// TestCCCDEEPROMCapacityIsEnforced fills the cccd model's file capacity
// exactly and checks that one more byte is refused with 6A84.
func TestCCCDEEPROMCapacityIsEnforced(t *testing.T) {
	c, h := blankCCCDInSCP03(t)
	left := c.model.FileCapacity()
	fid := uint16(0x0101)
	for left > maxFileSize {
		h.scpExpect(fmt.Sprintf("CREATE %04X", fid), 0xE0, 0, 0, fcp(fid, maxFileSize), 0, swOK)
		left -= maxFileSize
		fid++
	}
	h.scpExpect("CREATE one byte too big", 0xE0, 0, 0, fcp(fid, left+1), 0, swNotEnoughMemory)
	h.scpExpect("CREATE the exact rest", 0xE0, 0, 0, fcp(fid, left), 0, swOK)
	h.scpExpect("CREATE one more byte", 0xE0, 0, 0, fcp(fidCardAccess, 1), 0, swNotEnoughMemory)
}

// TestCCCDUsageCountsKeyGenerationAndECOperations: the latency model sees
// the key pairs generated, the EC operations of PACE (5), Chip
// Authentication (1) and Active Authentication (1), and the session keys.
func TestCCCDUsageCountsKeyGenerationAndECOperations(t *testing.T) {
	c, img, res := personalizedCCCD(t)
	u := c.Usage()
	if u.ECKeyGens != 2 || u.ECOps != 0 {
		t.Fatalf("after personalization: %d key generations, %d EC operations; want 2, 0", u.ECKeyGens, u.ECOps)
	}
	h := newCCCDHost(t, c)
	h.mustPACE(pacePasswordCAN, paceKeyOf(pacePasswordCAN, img.mrz, img.can))
	h.smExpect("SELECT", 0xA4, 0x04, 0x0C, AIDPassport, 0, swOK)
	h.chipAuthentication(res.caPub, img.caCurve, false)
	h.activeAuthentication(res.aaPub, img.aaCurve)
	v := c.Usage()
	if got := v.ECOps - u.ECOps; got != 7 {
		t.Errorf("PACE + CA + AA: %d EC operations, want 7", got)
	}
	if got := v.Keys - u.Keys; got != 2 {
		t.Errorf("PACE + CA: %d session key derivations, want 2", got)
	}
	if d := LatencyRealistic.Cost(Usage{ECKeyGens: u.ECKeyGens}); d.Milliseconds() != 400 {
		t.Errorf("two key generations cost %v, want 400 ms", d)
	}
}

func countDiff(a, b []byte) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n + max(len(a), len(b)) - min(len(a), len(b))
}
