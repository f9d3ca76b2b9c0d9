package cmac

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const message = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710"

// RFC 4493 §4 (AES-128) and NIST SP 800-38B Appendix D.3 (AES-256): the
// examples with messages of 0, 16, 40 and 64 bytes.
func TestCMACMatchesRFC4493AndSP800_38BExamples(t *testing.T) {
	msg := unhex(t, message)
	for _, c := range []struct {
		name, key string
		n         int
		want      string
	}{
		{"AES-128 empty", "2b7e151628aed2a6abf7158809cf4f3c", 0, "bb1d6929e95937287fa37d129b756746"},
		{"AES-128 16", "2b7e151628aed2a6abf7158809cf4f3c", 16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{"AES-128 40", "2b7e151628aed2a6abf7158809cf4f3c", 40, "dfa66747de9ae63030ca32611497c827"},
		{"AES-128 64", "2b7e151628aed2a6abf7158809cf4f3c", 64, "51f0bebf7e3b9d92fc49741779363cfe"},
		{"AES-256 empty", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 0, "028962f61b7bf89efc6b551f4667d983"},
		{"AES-256 16", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 16, "28a7023f452e8f82bd4bf28d8c37c35c"},
		{"AES-256 40", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 40, "aaf3d8f1de5640c232f5b169b9c911e6"},
		{"AES-256 64", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", 64, "e1992190549f6ed5696a2c056c315410"},
	} {
		b, err := aes.NewCipher(unhex(t, c.key))
		if err != nil {
			t.Fatal(err)
		}
		got := Sum(b, msg[:c.n])
		if want := unhex(t, c.want); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %X\nwant %X", c.name, got, want)
		}
	}
}

func TestSumDoesNotModifyItsInput(t *testing.T) {
	b, _ := aes.NewCipher(make([]byte, 16))
	msg := unhex(t, message)
	orig := bytes.Clone(msg)
	Sum(b, msg[:40])
	if !bytes.Equal(msg, orig) {
		t.Errorf("input changed:\n got %X\nwant %X", msg, orig)
	}
}
