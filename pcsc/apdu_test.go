package pcsc

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// ISO/IEC 7816-4 §5.1, Table 1: the four cases, short and extended.
func TestCommandEncodesEveryISOCase(t *testing.T) {
	data300 := bytes.Repeat([]byte{0xAB}, 300)
	tests := []struct {
		name string
		cmd  Command
		want string // hex; "" means: extended needed, no short form
		ext  bool   // Encode chooses extended
	}{
		{"case 1", Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x0C}, "00A4040C", false},
		{"case 2S Ne=1", Command{INS: 0xB0, Ne: 1}, "00B0000001", false},
		{"case 2S Ne=256 is Le 00", Command{INS: 0xB0, Ne: 256}, "00B0000000", false},
		{"case 3S", Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{0x01, 0x1E}}, "00A4020C02011E", false},
		{"case 4S", Command{INS: 0xA4, P1: 0x04, Data: []byte{0xA0, 0x00}, Ne: 256}, "00A4040002A00000", false},
		{"case 2E Ne=257", Command{INS: 0xB0, Ne: 257}, "00B00000000101", true},
		{"case 2E Ne=65536 is Le 0000", Command{INS: 0xB0, Ne: 65536}, "00B00000000000", true},
		{"case 3E", Command{INS: 0xD6, Data: data300}, "00D60000" + "00012C" + strings.Repeat("AB", 300), true},
		{"case 4E", Command{INS: 0xD6, Data: data300, Ne: 65536}, "00D60000" + "00012C" + strings.Repeat("AB", 300) + "0000", true},
		{"case 4E small data big Ne", Command{INS: 0x88, Data: []byte{1, 2}, Ne: 512}, "00880000" + "000002" + "0102" + "0200", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cmd.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(tt.want); !bytes.Equal(got, want) {
				t.Fatalf("Encode = %X, want %X", got, want)
			}
			if tt.cmd.NeedsExtended() != tt.ext {
				t.Errorf("NeedsExtended = %v, want %v", tt.cmd.NeedsExtended(), tt.ext)
			}
			if tt.ext {
				if _, err := tt.cmd.EncodeShort(); !errors.Is(err, ErrBadCommand) {
					t.Errorf("EncodeShort of a command that needs extended length: err = %v, want ErrBadCommand", err)
				}
			}
			back, ext, err := ParseCommand(got)
			if err != nil {
				t.Fatalf("ParseCommand(%X): %v", got, err)
			}
			if ext != tt.ext || back.CLA != tt.cmd.CLA || back.INS != tt.cmd.INS || back.P1 != tt.cmd.P1 || back.P2 != tt.cmd.P2 ||
				!bytes.Equal(back.Data, tt.cmd.Data) || back.Ne != tt.cmd.Ne {
				t.Fatalf("ParseCommand(%X) = %+v ext=%v, want %+v ext=%v", got, back, ext, tt.cmd, tt.ext)
			}
		})
	}
}

func TestCommandExtendedFormOfShortCommands(t *testing.T) {
	c := Command{INS: 0xB0, Ne: 256}
	got, err := c.EncodeExtended()
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex("00B00000000100"); !bytes.Equal(got, want) {
		t.Fatalf("EncodeExtended = %X, want %X", got, want)
	}
	c = Command{INS: 0xA4, Data: []byte{1}, Ne: 1}
	got, _ = c.EncodeExtended()
	if want := unhex("00A40000" + "000001" + "01" + "0001"); !bytes.Equal(got, want) {
		t.Fatalf("EncodeExtended = %X, want %X", got, want)
	}
}

func TestCommandOutOfRangeIsRefused(t *testing.T) {
	for _, c := range []Command{
		{Ne: -1},
		{Ne: 65537},
		{Data: make([]byte, 65536)},
	} {
		if _, err := c.Encode(); !errors.Is(err, ErrBadCommand) {
			t.Errorf("Encode(Nc=%d Ne=%d): err = %v, want ErrBadCommand", len(c.Data), c.Ne, err)
		}
	}
}

func TestParseCommandRejectsInconsistentLengths(t *testing.T) {
	for _, s := range []string{
		"00A404",                // short header
		"00A40400 05 0102",      // Lc 5, 2 bytes
		"00A40400 00 01",        // extended, truncated
		"00A40400 00 0000 01",   // extended Lc 0 with data
		"00D60000 00 0003 0102", // extended Lc 3, 2 bytes
	} {
		if _, _, err := ParseCommand(unhex(s)); !errors.Is(err, ErrBadCommand) {
			t.Errorf("ParseCommand(%s): err = %v, want ErrBadCommand", s, err)
		}
	}
}

func TestParseATRReadsProtocolsAndCardCapabilities(t *testing.T) {
	tests := []struct {
		name             string
		atr              string
		protocols        []int
		hist             string
		caps, chain, ext bool
	}{
		// 3B 88 80 01: TD1 (T=0 indicated) → TD2 T=1; 8 historical bytes
		// 80 73 C8 21 40 ..: card capabilities, third byte 40 = extended
		// Lc/Le.
		{"T=1 contactless style, extended", "3B888001 8073C82140000000 " + "00", []int{0, 1}, "8073C82140000000", true, false, true},
		{"chaining and extended", "3B858001 807300 00C0 " + "00", []int{0, 1}, "80730000C0", true, true, true},
		{"no capabilities", "3B8280 01 8000 00", []int{0, 1}, "8000", false, false, false},
		{"T=0 only, no TCK", "3B02 1415", []int{0}, "1415", false, false, false},
		{"category 00 with status indicator", "3B8880 01 00 73000040 009000 00", []int{0, 1}, "0073000040009000", true, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			atr := unhex(tt.atr)
			// Fix the TCK (last byte) when the ATR has one.
			if tt.protocols[len(tt.protocols)-1] != 0 || len(tt.protocols) > 1 {
				var x byte
				for _, b := range atr[1 : len(atr)-1] {
					x ^= b
				}
				atr[len(atr)-1] = x
			}
			info, err := ParseATR(atr)
			if err != nil {
				t.Fatalf("ParseATR(%X): %v", atr, err)
			}
			if len(info.Protocols) != len(tt.protocols) {
				t.Fatalf("protocols %v, want %v", info.Protocols, tt.protocols)
			}
			for i := range tt.protocols {
				if info.Protocols[i] != tt.protocols[i] {
					t.Fatalf("protocols %v, want %v", info.Protocols, tt.protocols)
				}
			}
			if !bytes.Equal(info.Historical, unhex(tt.hist)) {
				t.Errorf("historical %X, want %s", info.Historical, tt.hist)
			}
			if info.Capabilities != tt.caps || info.CommandChaining != tt.chain || info.ExtendedLength != tt.ext {
				t.Errorf("capabilities %v chaining %v extended %v, want %v %v %v",
					info.Capabilities, info.CommandChaining, info.ExtendedLength, tt.caps, tt.chain, tt.ext)
			}
		})
	}
}

func TestParseATRRejectsMalformed(t *testing.T) {
	for _, s := range []string{
		"",
		"3B",
		"AA00",           // TS
		"3B8880",         // TD1 says TD2 follows, nothing does
		"3B05 0102",      // 5 historical bytes announced, 2 present
		"3B818001 80 FF", // TCK wrong
		"3B818001 80",    // TCK missing
		"3B02 1415 99",   // trailing byte
	} {
		if _, err := ParseATR(unhex(s)); !errors.Is(err, ErrBadATR) {
			t.Errorf("ParseATR(%s): err = %v, want ErrBadATR", s, err)
		}
	}
}

type fixedTransport struct{ rsp []byte }

func (f fixedTransport) Transmit([]byte) ([]byte, error) { return f.rsp, nil }

func TestDoSplitsDataAndStatus(t *testing.T) {
	data, err := Do(fixedTransport{unhex("0102 9000")}, unhex("00B0000002"))
	if err != nil || !bytes.Equal(data, []byte{1, 2}) {
		t.Fatalf("Do = %X, %v; want 0102, nil", data, err)
	}
	data, err = Do(fixedTransport{unhex("0102 6282")}, unhex("00B0000004"))
	var se *StatusError
	if !errors.As(err, &se) || se.SW != 0x6282 || se.INS != 0xB0 {
		t.Fatalf("Do: err = %v, want StatusError 6282 INS B0", err)
	}
	if !bytes.Equal(data, []byte{1, 2}) {
		t.Errorf("Do with 6282 returned data %X, want 0102", data)
	}
	if _, err := Do(fixedTransport{unhex("90")}, unhex("00B0000004")); !errors.Is(err, ErrBadResponse) {
		t.Errorf("Do with a 1-byte response: err = %v, want ErrBadResponse", err)
	}
}
