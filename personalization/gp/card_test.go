package gp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/cmac"
)

// scp03Card is this test's card side of SCP03 (Amendment D), for what the
// vector does not show: level 13, responses with data under R-MAC and
// R-ENCRYPTION after the first, extended length. Its session keys come from
// kdf, which the vector pins.
type scp03Card struct {
	t                 *testing.T
	keys              Keys
	level             byte
	senc, smac, srmac cipher.Block
	chaining, counter [16]byte
	want              []byte // the plain command expected
	data              []byte // the plain response data
	sw                uint16
}

func (c *scp03Card) Transmit(apdu []byte) ([]byte, error) {
	t := c.t
	cmd, ext, err := pcsc.ParseCommand(apdu)
	if err != nil {
		t.Fatalf("%X: %v", apdu, err)
	}
	switch cmd.INS {
	case 0x50: // INITIALIZE UPDATE
		cardChallenge := []byte{1, 2, 3, 4, 5, 6, 7, 8}
		ctx := append(bytes.Clone(cmd.Data), cardChallenge...)
		enc, _ := aes.NewCipher(c.keys.ENC)
		mac, _ := aes.NewCipher(c.keys.MAC)
		bits := len(c.keys.ENC) * 8
		k, _ := kdf(enc, constSENC, bits, ctx)
		c.senc, _ = aes.NewCipher(k)
		k, _ = kdf(mac, constSMAC, bits, ctx)
		c.smac, _ = aes.NewCipher(k)
		k, _ = kdf(mac, constSRMAC, bits, ctx)
		c.srmac, _ = aes.NewCipher(k)
		cryptogram, _ := kdf(c.smac, constCardCryptogram, 64, ctx)
		resp := append(make([]byte, 10), c.keys.KVN, 0x03, 0x70)
		resp = append(append(append(resp, cardChallenge...), cryptogram...), 0, 0, 1, 0x90, 0x00)
		return resp, nil
	case 0x82: // EXTERNAL AUTHENTICATE
		c.level = cmd.P1
		c.checkMAC(apdu, cmd, ext)
		return []byte{0x90, 0x00}, nil
	}
	c.counter[15]++
	c.checkMAC(apdu, cmd, ext)
	data := cmd.Data[:len(cmd.Data)-8]
	if c.level&LevelCDEC != 0 && len(data) > 0 {
		iv := make([]byte, 16)
		c.senc.Encrypt(iv, c.counter[:])
		p := make([]byte, len(data))
		cipher.NewCBCDecrypter(c.senc, iv).CryptBlocks(p, data)
		data = p[:bytes.LastIndexByte(p, 0x80)]
	}
	plain, plainExt, _ := pcsc.ParseCommand(c.want)
	if cmd.CLA != plain.CLA|0x04 || !bytes.Equal(data, plain.Data) || (cmd.Ne > 0) != (plain.Ne > 0) {
		t.Errorf("card got %X for %X", apdu, c.want)
	}
	if ext != (plainExt || len(cmd.Data) > 255) {
		t.Errorf("extended %v for %X", ext, c.want)
	}
	sw := []byte{byte(c.sw >> 8), byte(c.sw)}
	if isError := c.sw != 0x9000 && c.sw>>8 != 0x62 && c.sw>>8 != 0x63; isError || c.level&LevelRMAC == 0 {
		return append(bytes.Clone(c.data), sw...), nil
	}
	body := c.data
	if c.level&LevelRENC != 0 && len(body) > 0 {
		icvIn := c.counter
		icvIn[0] = 0x80
		iv := make([]byte, 16)
		c.senc.Encrypt(iv, icvIn[:])
		p := pad(body)
		body = make([]byte, len(p))
		cipher.NewCBCEncrypter(c.senc, iv).CryptBlocks(body, p)
	}
	rmac := cmac.Sum(c.srmac, append(append(bytes.Clone(c.chaining[:]), body...), sw...))[:8]
	return append(append(append([]byte{}, body...), rmac...), sw...), nil
}

// checkMAC verifies a command's C-MAC and moves the chaining value on.
func (c *scp03Card) checkMAC(apdu []byte, cmd pcsc.Command, ext bool) {
	n := 5
	if ext {
		n = 7
	}
	in := append(bytes.Clone(c.chaining[:]), apdu[:n+len(cmd.Data)-8]...)
	m := cmac.Sum(c.smac, in)
	if !bytes.Equal(m[:8], cmd.Data[len(cmd.Data)-8:]) {
		c.t.Errorf("C-MAC of %X", apdu)
	}
	copy(c.chaining[:], m)
}

func TestSCP03AtEveryLevelWithDataBothWays(t *testing.T) {
	v := load(t)
	big := bytes.Repeat([]byte{0xD5}, 300)
	for _, keyset := range []string{"AES128", "AES256"} {
		for _, level := range []byte{0x01, 0x03, 0x11, 0x13, 0x33} {
			c := &scp03Card{t: t, keys: v.keys(t, keyset)}
			ch, err := Open(c, c.keys, level, bytes.NewReader(make([]byte, 8)))
			if err != nil {
				t.Fatalf("%s level %02X: %v", keyset, level, err)
			}
			for _, x := range []struct {
				cmd  string
				data []byte
				sw   uint16
			}{
				{"80CA9F7F00", bytes.Repeat([]byte{0x42}, 45), 0x9000},
				{"00A4040C07A0000002471001", nil, 0x9000},
				{"00D60000" + fmt.Sprintf("%02X%X", 200, big[:200]), nil, 0x9000},
				{"00B0000010", bytes.Repeat([]byte{7}, 16), 0x6282},
				{"00B00000" + "000200", big[:200], 0x9000},
				{"00D60000" + fmt.Sprintf("00012C%X", big), nil, 0x9000},
				{"00DA0062" + "05" + "6203040100" + "00", []byte{0x01}, 0x9000},
				{"00440000", nil, 0x6985},
			} {
				c.want, c.data, c.sw = unhex(t, x.cmd), x.data, x.sw
				got, err := ch.Transmit(c.want)
				if err != nil {
					t.Fatalf("%s level %02X %s: %v", keyset, level, x.cmd, err)
				}
				want := append(bytes.Clone(x.data), byte(x.sw>>8), byte(x.sw))
				if x.sw == 0x6985 {
					want = want[len(want)-2:]
				}
				eq(t, fmt.Sprintf("%s level %02X response to %.12s…", keyset, level, x.cmd), got, want)
			}
		}
	}
}

func TestMaxPlainSizesFitTheLimits(t *testing.T) {
	for _, c := range []struct {
		level     byte
		cmd, resp int
	}{
		{0x01, 247, 255}, {0x03, 239, 255}, {0x11, 247, 247}, {0x13, 239, 247}, {0x33, 239, 239},
	} {
		ch := &Channel{level: c.level}
		if got := ch.MaxPlainCommand(255); got != c.cmd {
			t.Errorf("level %02X: MaxPlainCommand(255) = %d, want %d", c.level, got, c.cmd)
		}
		if got := ch.MaxPlainResponse(255); got != c.resp {
			t.Errorf("level %02X: MaxPlainResponse(255) = %d, want %d", c.level, got, c.resp)
		}
	}
}
