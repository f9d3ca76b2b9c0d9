package pcsc_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/emrtd"
)

// The virtual eMRTD chip (package emrtd) through the reader layer: its serial,
// its faults and its lock, as the station meets them.

var (
	selectApplet = []byte{0x00, 0xA4, 0x04, 0x0C, 0x07, 0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01}
	// CREATE FILE EF.COM (011E), 64 bytes: 63 04 <size> <FID> (JMRTD).
	createCOM = []byte{0x00, 0xE0, 0x00, 0x00, 0x06, 0x63, 0x04, 0x00, 0x40, 0x01, 0x1E}
	selectCOM = []byte{0x00, 0xA4, 0x02, 0x0C, 0x02, 0x01, 0x1E}
)

func update(offset int, data []byte) []byte {
	return append([]byte{0x00, 0xD6, byte(offset >> 8), byte(offset), byte(len(data))}, data...)
}

// prepare selects the applet, creates EF.COM and selects it.
func prepare(t *testing.T, c pcsc.Transport) {
	t.Helper()
	for _, cmd := range [][]byte{selectApplet, createCOM, selectCOM} {
		if _, err := pcsc.Do(c, cmd); err != nil {
			t.Fatalf("%X: %v", cmd, err)
		}
	}
}

func TestReadSerialReturnsTheEMRTDChipSerial(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, m := range emrtd.Models {
			chip := emrtd.New(m)
			c := pcsc.NewCard(b.connect(t, chip))
			got, err := pcsc.ReadSerial(c)
			if err != nil {
				t.Fatal(err)
			}
			if got != chip.Serial() || len(got) != 20 {
				t.Fatalf("%s: ReadSerial = %q, chip serial %q", m.Name, got, chip.Serial())
			}
			// The card manager is left selected: the applet comes next.
			if _, err := pcsc.Do(c, selectApplet); err != nil {
				t.Fatalf("select the applet after ReadSerial: %v", err)
			}
		}
	})
}

func TestReadSerialFallsBackToTheUID(t *testing.T) {
	t.Parallel()
	r := vcard.NewRack("R")
	card := newTestCard(false)
	card.uid = []byte{0x04, 0xA1, 0xB2, 0xC3}
	r.Insert("R", card)
	conn, _ := r.Connect("R")
	got, err := pcsc.ReadSerial(pcsc.NewCard(conn))
	if err != nil || got != "04A1B2C3" {
		t.Fatalf("ReadSerial = %q, %v; want 04A1B2C3", got, err)
	}
	conn.Close(pcsc.LeaveCard)
	r.Remove("R")
	r.Insert("R", newTestCard(false))
	conn, _ = r.Connect("R")
	if _, err := pcsc.ReadSerial(pcsc.NewCard(conn)); !errors.Is(err, pcsc.ErrNoSerial) {
		t.Fatalf("card without CPLC or UID: err = %v, want ErrNoSerial", err)
	}
}

func TestReadSerialFromCPLC(t *testing.T) {
	t.Parallel()
	cplc := make([]byte, 42)
	for i := range cplc {
		cplc[i] = byte(i)
	}
	r := vcard.NewRack("R")
	card := newTestCard(false)
	card.cplc = cplc
	r.Insert("R", card)
	conn, _ := r.Connect("R")
	got, err := pcsc.ReadSerial(pcsc.NewCard(conn))
	// bytes 0-3 and 12-17
	if want := "000102030C0D0E0F1011"; err != nil || got != want {
		t.Fatalf("ReadSerial = %q, %v; want %s", got, err, want)
	}
}

// Every fault of the chip reaches the station as the typed error it decides
// on.
func TestEMRTDFaultsSurfaceAsTypedErrors(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte{0x5A}, 16)
	cases := []struct {
		name   string
		faults emrtd.Faults
		check  func(t *testing.T, err error)
	}{
		{"remove after N APDUs: ErrCardRemoved", emrtd.Faults{RemoveAfter: 3}, func(t *testing.T, err error) {
			if !errors.Is(err, pcsc.ErrCardRemoved) {
				t.Fatalf("err = %v, want ErrCardRemoved", err)
			}
		}},
		{"memory failure: StatusError 6581", emrtd.Faults{MemoryFailure: emrtd.AnyFile(5)}, func(t *testing.T, err error) {
			var se *pcsc.StatusError
			if !errors.As(err, &se) || se.SW != 0x6581 || se.INS != 0xD6 || !errors.Is(err, pcsc.ErrMemoryFailure) {
				t.Fatalf("err = %v, want StatusError 6581 on D6 (ErrMemoryFailure)", err)
			}
		}},
		{"tear: ErrCardRemoved", emrtd.Faults{Tear: emrtd.InFile(0x011E, 5)}, func(t *testing.T, err error) {
			if !errors.Is(err, pcsc.ErrCardRemoved) {
				t.Fatalf("err = %v, want ErrCardRemoved", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, b backend) {
				chip := emrtd.New(emrtd.ModelShort80, emrtd.WithFaults(tc.faults))
				c := pcsc.NewCard(b.connect(t, chip))
				prepare(t, c)
				_, err := pcsc.Do(c, update(0, data))
				tc.check(t, err)
			})
		})
	}
}

// After LOCK a plain READ BINARY needs BAC: 6982 through the whole stack.
func TestPlainReadBinaryAfterLockIs6982(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		chip := emrtd.New(emrtd.ModelExt144)
		c := pcsc.NewCard(b.connect(t, chip))
		prepare(t, c)
		if _, err := pcsc.Do(c, update(0, []byte{0x60, 0x16, 0x5F, 0x01})); err != nil {
			t.Fatal(err)
		}
		// MRZ key seed of the ICAO 9303-11 Appendix D worked example, then
		// LOCK (PUT DATA DE AD).
		seed := []byte{0x62, 0x1B,
			0x04, 0x09, 'L', '8', '9', '8', '9', '0', '2', 'C', '<',
			0x04, 0x06, '6', '9', '0', '8', '0', '6',
			0x04, 0x06, '9', '4', '0', '6', '2', '3'}
		for _, cmd := range [][]byte{
			append([]byte{0x00, 0xDA, 0x00, 0x62, byte(len(seed))}, seed...),
			{0x00, 0xDA, 0xDE, 0xAD},
		} {
			if _, err := pcsc.Do(c, cmd); err != nil {
				t.Fatalf("%X: %v", cmd[:4], err)
			}
		}
		if !chip.Locked() {
			t.Fatal("chip not locked")
		}
		_, err := pcsc.Do(c, []byte{0x00, 0xB0, 0x00, 0x00, 0x04})
		var se *pcsc.StatusError
		if !errors.Is(err, pcsc.ErrSecurityStatus) || !errors.As(err, &se) || se.SW != 0x6982 {
			t.Fatalf("plain READ BINARY after lock: err = %v, want 6982", err)
		}
	})
}
