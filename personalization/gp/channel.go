package gp

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"log/slog"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/cmac"
	"github.com/cccd-station/station/personalization/sm"
)

// Channel is an open SCP03 secure channel as a pcsc.Transport: Transmit
// takes a plain command APDU (class 00 or 80), sends it protected at the
// channel's security level and returns the plain response data ‖ SW1 SW2.
// A response whose R-MAC does not verify is ErrRMAC; the session is over
// then, as after a failure of the inner transport, and every later Transmit
// fails with that first error. A Channel is not safe for concurrent use.
type Channel struct {
	inner          pcsc.Transport
	level          byte
	enc, mac, rmac cipher.Block // S-ENC, S-MAC, S-RMAC
	chaining       [16]byte     // the MAC chaining value (§6.2.3)
	counter        [16]byte     // the encryption counter (§6.2.6)
	forceExtended  bool         // the plain command was extended: so is the protected one
	err            error
}

// Level is the security level the channel was opened at.
func (c *Channel) Level() byte { return c.level }

// Err is why the session ended, or nil while it lives.
func (c *Channel) Err() error { return c.err }

// LogValue keeps the session keys out of logs.
func (c *Channel) LogValue() slog.Value {
	return slog.GroupValue(slog.String("level", fmt.Sprintf("%02X", c.level)), slog.Bool("ended", c.err != nil), slog.String("keys", "[redacted]"))
}

// MaxPlainCommand is the most plain command data one protected command can
// carry within maxData bytes of command data field: less the C-MAC (8), and
// with C-DECRYPTION the padding (at least one byte, to a 16-byte block).
func (c *Channel) MaxPlainCommand(maxData int) int {
	n := maxData - 8
	if c.level&LevelCDEC != 0 {
		n = n/aes.BlockSize*aes.BlockSize - 1
	}
	return max(n, 0)
}

// MaxPlainResponse is the most plain response data one protected response
// can carry within maxData bytes of response data: less the R-MAC (8), and
// with R-ENCRYPTION the padding.
func (c *Channel) MaxPlainResponse(maxData int) int {
	n := maxData
	if c.level&LevelRMAC != 0 {
		n -= 8
	}
	if c.level&LevelRENC != 0 {
		n = n/aes.BlockSize*aes.BlockSize - 1
	}
	return max(n, 0)
}

// pad is ISO/IEC 9797-1 padding method 2 to the AES block (GP Card
// Specification 2.3 §B.2.3; Amendment D §6.2.6), as secure messaging has it.
func pad(b []byte) []byte { return sm.PadBlock(b, aes.BlockSize) }

func unpad(b []byte) ([]byte, error) { return sm.UnpadBlock(b, aes.BlockSize) }

// icv is the ICV of C-DECRYPTION, E(S-ENC, counter), or with response set
// that of R-ENCRYPTION, E(S-ENC, 80 ‖ counter[1:]) (Amendment D §6.2.6,
// §6.2.7).
func (c *Channel) icv(response bool) []byte {
	block := c.counter
	if response {
		block[0] = 0x80
	}
	iv := make([]byte, aes.BlockSize)
	c.enc.Encrypt(iv, block[:])
	return iv
}

func (c *Channel) incrementCounter() {
	for i := len(c.counter) - 1; i >= 0; i-- {
		c.counter[i]++
		if c.counter[i] != 0 {
			return
		}
	}
}

// macCommand protects a command (Amendment D §6.2.4, §6.2.6): with encrypt,
// the data padded and encrypted under S-ENC with the counter's ICV; then
// the class byte's secure messaging bit set (b3: 84 for 80, 04 for 00),
// Lc grown by the C-MAC's 8 bytes, and the C-MAC — the first 8 bytes of
// AES-CMAC under S-MAC over the MAC chaining value, the header, Lc and the
// data, whose full 16 bytes become the next chaining value. Le, when the
// plain command has one, is 00 (0000 extended): the card's protected answer
// is longer than the plain one. The protected command is extended when
// extended is set (the plain one was), Ne needs it, or Lc no longer fits.
func (c *Channel) macCommand(cmd pcsc.Command, encrypt, extended bool) ([]byte, error) {
	data := cmd.Data
	if encrypt && len(data) > 0 {
		p := pad(data)
		ct := make([]byte, len(p))
		cipher.NewCBCEncrypter(c.enc, c.icv(false)).CryptBlocks(ct, p)
		data = ct
	}
	lc := len(data) + 8
	extended = extended || cmd.Ne > 256 || lc > 255
	if lc > 0xFFFF {
		return nil, fmt.Errorf("gp: protected command of %d bytes", lc)
	}
	cla := cmd.CLA | 0x04
	b := []byte{cla, cmd.INS, cmd.P1, cmd.P2}
	if extended {
		b = append(b, 0x00, byte(lc>>8), byte(lc))
	} else {
		b = append(b, byte(lc))
	}
	b = append(b, data...)
	// The MAC covers the class byte with the logical channel number 0
	// (Amendment D §6.2.4).
	in := append(append(make([]byte, 0, 16+len(b)), c.chaining[:]...), b...)
	in[16] = cla &^ 0x03
	m := cmac.Sum(c.mac, in)
	copy(c.chaining[:], m)
	b = append(b, m[:8]...)
	if cmd.Ne > 0 {
		if extended {
			b = append(b, 0x00, 0x00)
		} else {
			b = append(b, 0x00)
		}
	}
	return b, nil
}

// Transmit protects one plain command APDU (ISO/IEC 7816-4 §5.1 cases 1–4,
// short or extended), sends it and returns the plain response APDU. A
// malformed APDU, or one whose class cannot carry GlobalPlatform secure
// messaging, is refused before anything is sent.
func (c *Channel) Transmit(apdu []byte) ([]byte, error) {
	if c.err != nil {
		return nil, fmt.Errorf("gp: the session ended earlier: %w", c.err)
	}
	cmd, ext, err := pcsc.ParseCommand(apdu)
	if err != nil {
		return nil, err
	}
	if cmd.CLA&0x40 != 0 || cmd.CLA&0x0C != 0 || cmd.CLA == 0xFF {
		return nil, fmt.Errorf("%w: class %02X cannot carry SCP03 secure messaging", pcsc.ErrBadCommand, cmd.CLA)
	}
	// The counter counts every command of the session, with data or not
	// (Amendment D §6.2.6).
	c.incrementCounter()
	wrapped, err := c.macCommand(cmd, c.level&LevelCDEC != 0, ext)
	if err != nil {
		return nil, err
	}
	resp, err := c.inner.Transmit(wrapped)
	if err != nil {
		c.err = err
		return nil, fmt.Errorf("gp: protected INS %02X: %w", cmd.INS, err)
	}
	out, err := c.unwrap(resp)
	if err != nil {
		c.err = err
		return nil, fmt.Errorf("protected INS %02X: %w", cmd.INS, err)
	}
	return out, nil
}

// unwrap checks a response (Amendment D §6.2.5, §6.2.7): at R-MAC levels a
// response with 9000 or a warning (62xx, 63xx) ends in an R-MAC — the first
// 8 bytes of AES-CMAC under S-RMAC over the MAC chaining value, the response
// data and the status word — and at R-ENCRYPTION its data is encrypted
// under S-ENC with the ICV 80 ‖ counter. An error status word comes alone,
// without data or R-MAC.
func (c *Channel) unwrap(resp []byte) ([]byte, error) {
	data, sw, err := pcsc.SplitResponse(resp)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRMAC, err)
	}
	if c.level&LevelRMAC == 0 {
		return resp, nil
	}
	if sw != 0x9000 && sw>>8 != 0x62 && sw>>8 != 0x63 {
		if len(data) != 0 {
			return nil, fmt.Errorf("%w: %d bytes of data with status %04X", ErrRMAC, len(data), sw)
		}
		return resp, nil
	}
	if len(data) < 8 {
		return nil, fmt.Errorf("%w: no R-MAC (%d bytes with status %04X)", ErrRMAC, len(data), sw)
	}
	body, rmac := data[:len(data)-8], data[len(data)-8:]
	in := append(append(append(make([]byte, 0, 16+len(body)+2), c.chaining[:]...), body...), byte(sw>>8), byte(sw))
	if !cmac.Equal(cmac.Sum(c.rmac, in)[:8], rmac) {
		return nil, fmt.Errorf("%w: the R-MAC does not verify", ErrRMAC)
	}
	if c.level&LevelRENC != 0 && len(body) > 0 {
		if len(body)%aes.BlockSize != 0 {
			return nil, fmt.Errorf("%w: %d encrypted bytes are not whole blocks", ErrRMAC, len(body))
		}
		p := make([]byte, len(body))
		cipher.NewCBCDecrypter(c.enc, c.icv(true)).CryptBlocks(p, body)
		if body, err = unpad(p); err != nil {
			return nil, fmt.Errorf("%w: R-ENCRYPTION: %w", ErrRMAC, err)
		}
	}
	return append(append([]byte{}, body...), byte(sw>>8), byte(sw)), nil
}
