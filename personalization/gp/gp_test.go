package gp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/cmac"
)

// vectors is testdata/gp-scp03.json, carried from
// ../shared/testvectors/gp-scp03.json (pysim's SCP03 test cases).
type vectors struct {
	Notes   []string `json:"notes"`
	Keysets map[string]struct {
		KVN, ENC, MAC, DEK string
	} `json:"keysets"`
	Plain struct {
		GetDataEID struct{ Command, Response string } `json:"get_data_eid"`
		Case1      struct{ Command string }           `json:"case1"`
		Case2      struct{ Command string }           `json:"case2"`
		Case3      struct{ Command string }           `json:"case3"`
		Case4      struct{ Command string }           `json:"case4"`
	} `json:"plain"`
	Sessions []struct {
		Keyset                   string `json:"keyset"`
		SecurityLevel            string `json:"security_level"`
		InitializeUpdate         string `json:"initialize_update"`
		InitializeUpdateResponse string `json:"initialize_update_response"`
		ExternalAuthenticate     string `json:"external_authenticate"`
		GetDataEID               struct {
			WrappedCommand  string `json:"wrapped_command"`
			WrappedResponse string `json:"wrapped_response"`
		} `json:"get_data_eid"`
		Case1, Case2, Case3, Case4 string
	} `json:"sessions"`
}

func load(t *testing.T) vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/gp-scp03.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %X\nwant %X", what, got, want)
	}
}

func (v vectors) keys(t *testing.T, name string) Keys {
	ks, ok := v.Keysets[name]
	if !ok {
		t.Fatalf("keyset %s", name)
	}
	return Keys{ENC: unhex(t, ks.ENC), MAC: unhex(t, ks.MAC), DEK: unhex(t, ks.DEK), KVN: unhex(t, ks.KVN)[0]}
}

// card replays a session: each command must be the bytes expected; it
// answers the response given.
type card struct {
	t     *testing.T
	name  string
	steps []struct{ what, cmd, resp string }
	n     int
}

func (c *card) Transmit(cmd []byte) ([]byte, error) {
	c.t.Helper()
	if c.n >= len(c.steps) {
		c.t.Fatalf("%s: unexpected command %X", c.name, cmd)
	}
	s := c.steps[c.n]
	c.n++
	eq(c.t, c.name+" "+s.what, cmd, unhex(c.t, s.cmd))
	return unhex(c.t, s.resp), nil
}

// Each of the vector's six sessions (AES-128 and AES-256 at levels 11, 03
// and 33): the EXTERNAL AUTHENTICATE from the host challenge and the
// INITIALIZE UPDATE response, every wrapped command in order in one
// session (the MAC chaining value and the encryption counter carry over),
// and get_data_eid's protected response unwrapped to the plain one.
func TestSCP03ReproducesEverySessionOfTheVectors(t *testing.T) {
	v := load(t)
	if len(v.Sessions) != 6 {
		t.Fatalf("%d sessions in the vector file", len(v.Sessions))
	}
	for _, s := range v.Sessions {
		name := fmt.Sprintf("%s level %s", s.Keyset, s.SecurityLevel)
		t.Run(name, func(t *testing.T) {
			level := unhex(t, s.SecurityLevel)[0]
			iu := unhex(t, s.InitializeUpdate)
			hostChallenge := iu[5:13]
			c := &card{t: t, name: name, steps: []struct{ what, cmd, resp string }{
				{"INITIALIZE UPDATE", s.InitializeUpdate, s.InitializeUpdateResponse + "9000"},
				{"EXTERNAL AUTHENTICATE", s.ExternalAuthenticate, "9000"},
				{"get_data_eid", s.GetDataEID.WrappedCommand, s.GetDataEID.WrappedResponse + "9000"},
				// The vector has no answers to the four cases: the card
				// answers an error status word, which carries no R-MAC
				// and leaves the chaining value and counter going on.
				{"case1", s.Case1, "6A86"},
				{"case2", s.Case2, "6A86"},
				{"case3", s.Case3, "6A86"},
				{"case4", s.Case4, "6A86"},
			}}
			ch, err := Open(c, v.keys(t, s.Keyset), level, bytes.NewReader(hostChallenge))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ch.Transmit(unhex(t, v.Plain.GetDataEID.Command))
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "get_data_eid response", got, unhex(t, v.Plain.GetDataEID.Response+"9000"))
			for _, cmd := range []string{v.Plain.Case1.Command, v.Plain.Case2.Command, v.Plain.Case3.Command, v.Plain.Case4.Command} {
				got, err := ch.Transmit(unhex(t, cmd))
				if err != nil {
					t.Fatalf("%s: %v", cmd, err)
				}
				eq(t, "response to "+cmd, got, unhex(t, "6A86"))
			}
			if c.n != len(c.steps) {
				t.Errorf("%d of %d commands sent", c.n, len(c.steps))
			}
		})
	}
}

func TestSCP03RefusesAWrongCardCryptogram(t *testing.T) {
	v := load(t)
	s := v.Sessions[2]
	resp := unhex(t, s.InitializeUpdateResponse)
	resp[22] ^= 1 // in the card cryptogram
	c := &card{t: t, name: "tampered", steps: []struct{ what, cmd, resp string }{
		{"INITIALIZE UPDATE", s.InitializeUpdate, hex.EncodeToString(resp) + "9000"},
	}}
	_, err := Open(c, v.keys(t, s.Keyset), 0x33, bytes.NewReader(unhex(t, s.InitializeUpdate)[5:13]))
	if !errors.Is(err, ErrAuth) {
		t.Errorf("wrong card cryptogram: %v", err)
	}
	// Other keys give another cryptogram.
	k := v.keys(t, s.Keyset)
	k.MAC = bytes.Repeat([]byte{0x42}, 16)
	c = &card{t: t, name: "other keys", steps: []struct{ what, cmd, resp string }{
		{"INITIALIZE UPDATE", s.InitializeUpdate, s.InitializeUpdateResponse + "9000"},
	}}
	if _, err := Open(c, k, 0x33, bytes.NewReader(unhex(t, s.InitializeUpdate)[5:13])); !errors.Is(err, ErrAuth) {
		t.Errorf("other MAC key: %v", err)
	}
}

func TestSCP03ExternalAuthenticateRefusedIsErrAuth(t *testing.T) {
	v := load(t)
	s := v.Sessions[0]
	c := &card{t: t, name: "refused", steps: []struct{ what, cmd, resp string }{
		{"INITIALIZE UPDATE", s.InitializeUpdate, s.InitializeUpdateResponse + "9000"},
		{"EXTERNAL AUTHENTICATE", s.ExternalAuthenticate, "6300"},
	}}
	_, err := Open(c, v.keys(t, s.Keyset), 0x11, bytes.NewReader(unhex(t, s.InitializeUpdate)[5:13]))
	var se *pcsc.StatusError
	if !errors.Is(err, ErrAuth) || !errors.As(err, &se) || se.SW != 0x6300 {
		t.Errorf("EXTERNAL AUTHENTICATE 6300: %v", err)
	}
}

func TestSCP03ResponseMACThatDoesNotVerifyEndsTheSession(t *testing.T) {
	v := load(t)
	for _, i := range []int{0, 2} { // level 11 and 33
		s := v.Sessions[i]
		wr := unhex(t, s.GetDataEID.WrappedResponse)
		wr[len(wr)-1] ^= 1
		c := &card{t: t, name: "R-MAC", steps: []struct{ what, cmd, resp string }{
			{"INITIALIZE UPDATE", s.InitializeUpdate, s.InitializeUpdateResponse + "9000"},
			{"EXTERNAL AUTHENTICATE", s.ExternalAuthenticate, "9000"},
			{"get_data_eid", s.GetDataEID.WrappedCommand, hex.EncodeToString(wr) + "9000"},
		}}
		ch, err := Open(c, v.keys(t, s.Keyset), unhex(t, s.SecurityLevel)[0], bytes.NewReader(unhex(t, s.InitializeUpdate)[5:13]))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.Transmit(unhex(t, v.Plain.GetDataEID.Command)); !errors.Is(err, ErrRMAC) {
			t.Errorf("level %s, tampered R-MAC: %v", s.SecurityLevel, err)
		}
		if _, err := ch.Transmit(unhex(t, v.Plain.Case1.Command)); !errors.Is(err, ErrRMAC) || c.n != 3 {
			t.Errorf("after the session ended: %v, %d commands sent", err, c.n)
		}
	}
}

func TestSCP03RefusesWhatTheCardDoesNotOffer(t *testing.T) {
	v := load(t)
	s := v.Sessions[0]
	k := v.keys(t, s.Keyset)
	rnd := func() *bytes.Reader { return bytes.NewReader(unhex(t, s.InitializeUpdate)[5:13]) }
	good := unhex(t, s.InitializeUpdateResponse)
	with := func(i int, b byte) string {
		r := bytes.Clone(good)
		r[i] = b
		return hex.EncodeToString(r)
	}
	for name, resp := range map[string]string{
		"SCP02":                                 with(11, 0x02),
		"another key version":                   with(10, 0x31),
		"no R-MAC support (i = 10) at level 11": with(12, 0x10),
		"S16 mode":                              with(12, 0x71),
		"a sequence counter without i's bit":    with(12, 0x60),
		"short":                                 hex.EncodeToString(good[:13]),
	} {
		c := &card{t: t, name: name, steps: []struct{ what, cmd, resp string }{{"INITIALIZE UPDATE", s.InitializeUpdate, resp + "9000"}}}
		if _, err := Open(c, k, 0x11, rnd()); !errors.Is(err, ErrResponse) {
			t.Errorf("%s: %v", name, err)
		}
	}
	c := &card{t: t, name: "unknown KVN", steps: []struct{ what, cmd, resp string }{{"INITIALIZE UPDATE", s.InitializeUpdate, "6A88"}}}
	if _, err := Open(c, k, 0x11, rnd()); !errors.Is(err, pcsc.ErrRefDataNotFound) {
		t.Errorf("6A88: %v", err)
	}
	for _, level := range []byte{0x00, 0x02, 0x10, 0x31, 0x23} {
		if _, err := Open(&card{t: t}, k, level, rnd()); err == nil {
			t.Errorf("level %02X accepted", level)
		}
	}
}

// hsmBlock stands for a key in an HSM: a cipher.Block that is not crypto/aes.
type hsmBlock struct{ b cipher.Block }

func (h hsmBlock) BlockSize() int          { return h.b.BlockSize() }
func (h hsmBlock) Encrypt(dst, src []byte) { h.b.Encrypt(dst, src) }
func (h hsmBlock) Decrypt(dst, src []byte) { h.b.Decrypt(dst, src) }

// cccd.md §3: K = the first L bits of CMAC(K_master, 00×11 ‖ 10 ‖ 00 ‖ L ‖
// i ‖ diversification data) for i = 01, 02, …, computed here by hand.
func TestDiversifyIsTheSCP03KDFWithConstant10(t *testing.T) {
	div := [10]byte{0x47, 0x90, 0x50, 0x40, 0x12, 0x34, 0x56, 0x78, 0x00, 0x01}
	master, _ := aes.NewCipher(unhex(t, "404142434445464748494A4B4C4D4E4F"))
	data := func(l string, i byte) []byte {
		return append(unhex(t, "0000000000000000000000"+"10"+"00"+l+fmt.Sprintf("%02X", i)), div[:]...)
	}
	k16, err := Diversify(hsmBlock{master}, div, 16)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "AES-128 card key", k16, cmac.Sum(master, data("0080", 1)))
	k32, err := Diversify(hsmBlock{master}, div, 32)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "AES-256 card key", k32, append(cmac.Sum(master, data("0100", 1)), cmac.Sum(master, data("0100", 2))...))
	k24, err := Diversify(master, div, 24)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "AES-192 card key", k24, append(cmac.Sum(master, data("00C0", 1)), cmac.Sum(master, data("00C0", 2))...)[:24])
	if _, err := Diversify(master, div, 20); err == nil {
		t.Error("a 20-byte key was derived")
	}
	ks, err := DiversifyKeys(master, master, master, 0x30, div, 16)
	if err != nil || ks.KVN != 0x30 || !bytes.Equal(ks.ENC, k16) || !bytes.Equal(ks.DEK, k16) {
		t.Errorf("DiversifyKeys: %v", err)
	}
}

func TestKeysNeverPrintTheirSecrets(t *testing.T) {
	k := Keys{ENC: unhex(t, "A1A2A3A4A5A6A7A8A9AAABACADAEAFB0"), MAC: unhex(t, "A1A2A3A4A5A6A7A8A9AAABACADAEAFB0"), KVN: 0x30}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %x %s", k, k, k, k, k), k.LogValue().String()} {
		if strings.Contains(strings.ToUpper(s), "A1A2") || strings.Contains(s, "161 162") {
			t.Errorf("key printed: %s", s)
		}
	}
}
