package pcsc_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/pcsc/vcard"
)

// backend connects a card through one kind of reader.
type backend struct {
	name    string
	connect func(t *testing.T, card vcard.Card) pcsc.Conn
}

// backends: the in-process rack, and a real pcscd with the vpcd bridge.
func backends() []backend {
	return []backend{
		{"rack", func(t *testing.T, card vcard.Card) pcsc.Conn {
			r := vcard.NewRack("Rack 0")
			if err := r.Insert("Rack 0", card); err != nil {
				t.Fatal(err)
			}
			return connect(t, r, "Rack 0")
		}},
		{"pcscd", func(t *testing.T, card vcard.Card) pcsc.Conn {
			st, sys := system(t)
			i := takeReaders(t, 1)[0]
			plug(t, st, i, card)
			return connect(t, sys, st.ReaderName(i))
		}},
	}
}

// forEachBackend runs f over every backend, in parallel.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f(t, b)
		})
	}
}

func TestTransmitFollows61xxWithGetResponse(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		card := newTestCard(false)
		c := pcsc.NewCard(b.connect(t, card))
		for _, n := range []int{1, 255, 256, 257, 1000} {
			before := c.Counters().APDUs
			rsp, err := c.Transmit([]byte{0x00, 0x10, byte(n >> 8), byte(n), 0x00})
			if err != nil {
				t.Fatal(err)
			}
			want := append(pattern(n), 0x90, 0x00)
			if !bytes.Equal(rsp, want) {
				t.Fatalf("%d bytes by GET RESPONSE:\n got %X\nwant %X", n, rsp, want)
			}
			if got, want := c.Counters().APDUs-before, uint64(1+(n+255)/256); got != want {
				t.Errorf("%d bytes took %d APDUs, want %d", n, got, want)
			}
		}
	})
}

func TestTransmitResends6CxxWithTheExactLe(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		c := pcsc.NewCard(b.connect(t, newTestCard(false)))
		rsp, err := c.Transmit([]byte{0x00, 0x12, 0x00, 0x20, 0x00}) // Le 256, the card wants 32
		if err != nil {
			t.Fatal(err)
		}
		if want := append(pattern(32), 0x90, 0x00); !bytes.Equal(rsp, want) {
			t.Fatalf("got %X, want %X", rsp, want)
		}
		if n := c.Counters().APDUs; n != 2 {
			t.Errorf("%d APDUs, want 2 (the command and its re-send)", n)
		}
	})
}

// apdusSeen asks the test card how many APDUs it processed.
func apdusSeen(t *testing.T, c pcsc.Transport) int {
	t.Helper()
	d, err := pcsc.Do(c, []byte{0x00, 0x18, 0x00, 0x00, 0x02})
	if err != nil {
		t.Fatal(err)
	}
	return int(d[0])<<8 | int(d[1])
}

func TestExtendedLengthOnlyWhereTheCardDeclaresIt(t *testing.T) {
	t.Parallel()
	big := pattern(300)
	echo := pcsc.Command{CLA: 0x00, INS: 0x14, Data: big, Ne: 65536}
	forEachBackend(t, func(t *testing.T, b backend) {
		t.Run("declared", func(t *testing.T) {
			c := pcsc.NewCard(b.connect(t, newTestCard(true)))
			if !c.ExtendedLength() {
				t.Fatalf("ATR %X declares extended length; Card says no", c.ATR())
			}
			data, err := pcsc.Exec(c, echo)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, big) {
				t.Fatalf("echo of 300 bytes: got %X", data)
			}
		})
		t.Run("not declared: refused locally", func(t *testing.T) {
			c := pcsc.NewCard(b.connect(t, newTestCard(false)))
			if c.ExtendedLength() {
				t.Fatalf("ATR %X does not declare extended length; Card says it does", c.ATR())
			}
			if _, err := c.Send(echo); !errors.Is(err, pcsc.ErrExtendedLength) {
				t.Fatalf("Send of 300 bytes: err = %v, want ErrExtendedLength", err)
			}
			raw, _ := echo.EncodeExtended()
			if _, err := c.Transmit(raw); !errors.Is(err, pcsc.ErrExtendedLength) {
				t.Fatalf("Transmit of an extended APDU: err = %v, want ErrExtendedLength", err)
			}
			if _, err := c.Send(pcsc.Command{INS: 0xB0, Ne: 257}); !errors.Is(err, pcsc.ErrExtendedLength) {
				t.Fatalf("Send with Ne 257: err = %v, want ErrExtendedLength", err)
			}
			if n := apdusSeen(t, c); n != 0 {
				t.Fatalf("the card saw %d APDUs; refused commands must not be sent", n)
			}
			// An extended encoding of a command that fits short form is
			// re-encoded, not refused.
			small := pcsc.Command{INS: 0x14, Data: []byte{1, 2, 3}, Ne: 3}
			raw, _ = small.EncodeExtended()
			rsp, err := c.Transmit(raw)
			if err != nil || !bytes.Equal(rsp, []byte{1, 2, 3, 0x90, 0x00}) {
				t.Fatalf("extended encoding of a short command: %X, %v", rsp, err)
			}
		})
		t.Run("option overrides the ATR", func(t *testing.T) {
			c := pcsc.NewCard(b.connect(t, newTestCard(false)), pcsc.WithExtendedLength(true))
			data, err := pcsc.Exec(c, echo)
			if err != nil || !bytes.Equal(data, big) {
				t.Fatalf("echo with WithExtendedLength(true): %X, %v", data, err)
			}
		})
	})
}

func TestTransmitChainedSplitsIntoLinksOf255(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		c := pcsc.NewCard(b.connect(t, newTestCard(false)))
		data := pattern(600)
		cmd, _ := pcsc.Command{CLA: 0x00, INS: 0x16, Data: data, Ne: 256}.EncodeExtended()
		rsp, err := c.TransmitChained(cmd)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(data)
		if want := append(h[:], 0x90, 0x00); !bytes.Equal(rsp, want) {
			t.Fatalf("chained command: got %X, want %X", rsp, want)
		}
		if n := c.Counters().APDUs; n != 3 {
			t.Errorf("600 bytes took %d links, want 3 (255 + 255 + 90)", n)
		}
	})
}

func TestCardCountsBytesAndAPDUs(t *testing.T) {
	t.Parallel()
	r := vcard.NewRack("R")
	r.Insert("R", newTestCard(false))
	conn, err := r.Connect("R")
	if err != nil {
		t.Fatal(err)
	}
	c := pcsc.NewCard(conn)
	c.Transmit([]byte{0x00, 0x14, 0x00, 0x00, 0x03, 1, 2, 3})
	got := c.Counters()
	if got.APDUs != 1 || got.BytesOut != 8 || got.BytesIn != 5 || got.Time <= 0 {
		t.Fatalf("counters %+v, want 1 APDU, 8 bytes out, 5 in, some time", got)
	}
}

func TestTransmitTracesWithMasking(t *testing.T) {
	t.Parallel()
	r := vcard.NewRack("R")
	r.Insert("R", newTestCard(false))
	conn, _ := r.Connect("R")
	tr := pcsc.NewTrace(16)
	c := pcsc.NewCard(conn, pcsc.WithTrace(tr))
	// 61xx chain after an instruction the table masks: both the command and
	// its GET RESPONSE are masked.
	c.Transmit([]byte{0x00, 0x10, 0x01, 0x00, 0x00})
	es := tr.Entries()
	if len(es) != 2 {
		t.Fatalf("%d entries, want 2", len(es))
	}
	for _, e := range es {
		if e.Resp != nil || e.RespLen > 0 && !e.RespMasked {
			t.Errorf("entry %s shows a response the table masks", e)
		}
		if e.Reader != "R" {
			t.Errorf("entry %s: reader %q, want R", e, e.Reader)
		}
	}
}
