package emrtd

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cccd-station/station/pcsc/vcard"
)

func TestCardIsRemovedAfterNAPDUs(t *testing.T) {
	for _, m := range Models {
		t.Run(m.Name, func(t *testing.T) {
			c := New(m, WithFaults(Faults{RemoveAfter: 3}))
			for i := 1; i <= 3; i++ {
				if _, err := c.Process(unhex(t, "80CA9F7F00")); err != nil {
					t.Fatalf("APDU %d: %v", i, err)
				}
			}
			for i := 4; i <= 5; i++ {
				resp, err := c.Process(unhex(t, "80CA9F7F00"))
				if !errors.Is(err, vcard.ErrRemoved) || resp != nil {
					t.Fatalf("APDU %d: %s, %v; want no response and ErrRemoved", i, hx(resp), err)
				}
			}
			c.PowerOn() // inserted again
			for i := 0; i < 5; i++ {
				if _, err := c.Process(unhex(t, "80CA9F7F00")); err != nil {
					t.Fatalf("after reinsertion: %v (the removal fault fires once)", err)
				}
			}
		})
	}
}

func TestMemoryFailureAnswers6581AndWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     *WriteFault
		fid       uint16
		off, n    int
		wantFault bool
	}{
		{"range covering the offset in any file", AnyFile(50), 0x0101, 40, 20, true},
		{"range starting at the offset", AnyFile(50), 0x0101, 50, 1, true},
		{"range ending just before the offset", AnyFile(50), 0x0101, 40, 10, false},
		{"range starting just after the offset", AnyFile(50), 0x0101, 51, 10, false},
		{"the faulty file", InFile(0x0102, 50), 0x0102, 0, 100, true},
		{"another file", InFile(0x0102, 50), 0x0101, 0, 100, false},
	} {
		for _, m := range modelsWith(CommandSetJMRTD) { // cccd: cccd_faults_test.go
			t.Run(m.Name+" "+tc.name, func(t *testing.T) {
				c := New(m, WithFaults(Faults{MemoryFailure: tc.fault}))
				r := newReader(t, c)
				r.selectApplet()
				r.expect("CREATE", createFileAPDU(tc.fid, 200), swOK)
				r.expect("SELECT", selectFileAPDU(tc.fid), swOK)
				data := bytes.Repeat([]byte{0xA5}, tc.n)
				want := uint16(swOK)
				if tc.wantFault {
					want = swMemoryFailure
				}
				r.expect("UPDATE", updateBinaryAPDU(tc.off, data), want)
				got := r.plainReadFile(tc.fid, 256)
				expected := make([]byte, 200)
				if !tc.wantFault {
					copy(expected[tc.off:], data)
				}
				if !bytes.Equal(got, expected) {
					t.Errorf("file after the write:\n got %s\nwant %s", hx(got), hx(expected))
				}
				if tc.wantFault {
					r.expect("SELECT", selectFileAPDU(tc.fid), swOK)
					r.expect("UPDATE again (the cell stays bad)", updateBinaryAPDU(tc.off, data), swMemoryFailure)
				}
			})
		}
	}
}

func TestTearWritesOnlyTheBytesBeforeTheOffset(t *testing.T) {
	for _, m := range modelsWith(CommandSetJMRTD) { // cccd: cccd_faults_test.go
		t.Run(m.Name, func(t *testing.T) {
			c := New(m, WithFaults(Faults{Tear: InFile(0x0102, 300)}))
			r := newReader(t, c)
			r.selectApplet()
			r.expect("CREATE", createFileAPDU(0x0102, 1000), swOK)
			r.expect("SELECT", selectFileAPDU(0x0102), swOK)
			content := pattern(0x0102, 1000)
			r.expect("UPDATE 0-199", updateBinaryAPDU(0, content[:200]), swOK)
			resp, err := c.Process(updateBinaryAPDU(200, content[200:400]))
			if !errors.Is(err, vcard.ErrRemoved) || resp != nil {
				t.Fatalf("torn UPDATE: %s, %v; want ErrRemoved", hx(resp), err)
			}
			if _, err := c.Process(unhex(t, "80CA9F7F00")); !errors.Is(err, vcard.ErrRemoved) {
				t.Fatalf("APDU after the tear: %v, want ErrRemoved until reinsertion", err)
			}
			c.PowerOn()
			r.selectApplet()
			got := r.plainReadFile(0x0102, 256)
			want := make([]byte, 1000)
			copy(want, content[:300])
			if !bytes.Equal(got, want) {
				t.Fatalf("file after the tear:\n got %s\nwant %s", hx(got), hx(want))
			}
			if !c.Written() {
				t.Error("Written() = false after a torn write")
			}
			// The tear happened once: the station's retry succeeds.
			r.expect("SELECT", selectFileAPDU(0x0102), swOK)
			r.expect("UPDATE 200-399 again", updateBinaryAPDU(200, content[200:400]), swOK)
		})
	}
}

func TestFaultsCombine(t *testing.T) {
	c := New(ModelShort80, WithFaults(Faults{
		RemoveAfter:   7,
		MemoryFailure: InFile(0x0101, 10),
		Tear:          InFile(0x0102, 10),
	}))
	r := newReader(t, c)
	r.selectApplet()                                                                                   // 1
	r.expect("CREATE", createFileAPDU(0x0101, 20), swOK)                                               // 2
	r.expect("CREATE", createFileAPDU(0x0102, 20), swOK)                                               // 3
	r.expect("SELECT", selectFileAPDU(0x0101), swOK)                                                   // 4
	r.expect("UPDATE", updateBinaryAPDU(0, make([]byte, 20)), swMemoryFailure)                         // 5
	r.expect("SELECT", selectFileAPDU(0x0102), swOK)                                                   // 6
	if _, err := c.Process(updateBinaryAPDU(0, make([]byte, 20))); !errors.Is(err, vcard.ErrRemoved) { // 7: tear
		t.Fatalf("tear: %v", err)
	}
	c.PowerOn()
	if _, err := c.Process(unhex(t, "80CA9F7F00")); !errors.Is(err, vcard.ErrRemoved) { // 8: removal
		t.Fatalf("removal after 7 APDUs: %v", err)
	}
}
