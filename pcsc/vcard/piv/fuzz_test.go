package piv_test

import (
	"testing"

	"github.com/cccd-station/station/pcsc/vcard/piv"
)

// FuzzProcess feeds arbitrary APDUs to a selected token with a key in 9C and
// a verified PIN: every answer must end with a status word, and the token
// must keep answering.
func FuzzProcess(f *testing.F) {
	f.Add([]byte{0x00, 0x87, 0x11, 0x9c, 0x26, 0x7c, 0x24, 0x82, 0x00, 0x81, 0x20})
	f.Add([]byte{0x10, 0xdb, 0x3f, 0xff, 0x03, 0x5c, 0x03, 0x5f})
	f.Add([]byte{0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, cmd []byte) {
		tok := selected(t)
		authenticate(t, tok, defaultMgmKey)
		generate(t, tok, 0x9c, 0x11, 0x02)
		send(t, tok, apdu(0, 0x20, 0, 0x80, pinBlock(piv.DefaultPIN)))
		send(t, tok, cmd)
		// An open chain is abandoned (6883) by the next command; after that
		// the token answers normally, whatever came before.
		if r := send(t, tok, []byte{0, 0xf8, 0, 0, 0}); r.sw != 0x9000 && r.sw != 0x6883 {
			t.Fatalf("GET SERIAL after %X: %s, want 9000 or 6883", cmd, r)
		}
		mustSW(t, "GET SERIAL", send(t, tok, []byte{0, 0xf8, 0, 0, 0}), 0x9000)
	})
}
