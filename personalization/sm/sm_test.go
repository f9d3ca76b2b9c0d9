package sm

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
)

type bacVector struct {
	MRZInformation      string `json:"mrz_information"`
	KSeed               string `json:"k_seed"`
	KEnc                string `json:"k_enc"`
	KMac                string `json:"k_mac"`
	RndIC               string `json:"rnd_ic"`
	RndIFD              string `json:"rnd_ifd"`
	KIFD                string `json:"k_ifd"`
	S                   string `json:"s"`
	EIFD                string `json:"e_ifd"`
	MIFD                string `json:"m_ifd"`
	ExtAuthResponseData string `json:"external_authenticate_response_data"`
	KICC                string `json:"k_icc"`
	KSSeed              string `json:"ks_seed"`
	KSEnc               string `json:"ks_enc"`
	KSMac               string `json:"ks_mac"`
	SSC                 string `json:"ssc"`
	ProtectedSelect     struct {
		SSC         string `json:"ssc"`
		Command     string `json:"command"`
		ResponseSSC string `json:"response_ssc"`
		Response    string `json:"response"`
	} `json:"protected_select_ef_com"`
}

// loadBAC reads ICAO 9303-11 Appendix D's worked example, carried into
// testdata from ../shared/testvectors/icao9303-bac.json.
func loadBAC(t *testing.T) bacVector {
	t.Helper()
	b, err := os.ReadFile("testdata/icao9303-bac.json")
	if err != nil {
		t.Fatal(err)
	}
	var v bacVector
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func h(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
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

func TestBACKeyDerivationKnownAnswer(t *testing.T) {
	v := loadBAC(t)
	eq(t, "K_seed", KeySeed(v.MRZInformation), h(t, v.KSeed))
	k := NewBACKeys(v.MRZInformation)
	eq(t, "K_enc", k.Enc, h(t, v.KEnc))
	eq(t, "K_mac", k.Mac, h(t, v.KMac))
}

// The terminal's side of ICAO's worked example, value by value.
func TestBACMutualAuthenticationKnownAnswer(t *testing.T) {
	v := loadBAC(t)
	keys := NewBACKeys(v.MRZInformation)
	rnd := bytes.NewReader(append(h(t, v.RndIFD), h(t, v.KIFD)...))
	c, cmdData, err := NewBACChallenge(keys, h(t, v.RndIC), rnd)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "E.IFD", cmdData[:32], h(t, v.EIFD))
	eq(t, "M.IFD", cmdData[32:], h(t, v.MIFD))
	s, err := c.Finish(h(t, v.ExtAuthResponseData))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "KS_enc", s.enc, h(t, v.KSEnc))
	eq(t, "KS_mac", s.mac, h(t, v.KSMac))
	eq(t, "SSC", s.SSC(), h(t, v.SSC))

	// The protected SELECT EF.COM of the example, and its response.
	apdu, err := s.Wrap(Command{CLA: 0x00, INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{0x01, 0x1E}})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "SSC at the command", s.SSC(), h(t, v.ProtectedSelect.SSC))
	eq(t, "protected SELECT EF.COM", apdu, h(t, v.ProtectedSelect.Command))
	data, sw, err := s.Unwrap(h(t, v.ProtectedSelect.Response))
	if err != nil || sw != 0x9000 || len(data) != 0 {
		t.Fatalf("Unwrap: %X %04X %v", data, sw, err)
	}
	eq(t, "SSC at the response", s.SSC(), h(t, v.ProtectedSelect.ResponseSSC))
}

func TestBACRefusesAWrongAnswer(t *testing.T) {
	v := loadBAC(t)
	keys := NewBACKeys(v.MRZInformation)
	rnd := bytes.NewReader(append(h(t, v.RndIFD), h(t, v.KIFD)...))
	c, _, _ := NewBACChallenge(keys, h(t, v.RndIC), rnd)
	resp := h(t, v.ExtAuthResponseData)
	resp[3] ^= 1
	if _, err := c.Finish(resp); !errors.Is(err, ErrBAC) {
		t.Errorf("tampered E.IC: %v", err)
	}
	// Another MRZ derives other keys: the chip's answer does not verify.
	other := NewBACKeys("L898902C<369080619406237")
	c, _, _ = NewBACChallenge(other, h(t, v.RndIC), bytes.NewReader(append(h(t, v.RndIFD), h(t, v.KIFD)...)))
	if _, err := c.Finish(h(t, v.ExtAuthResponseData)); !errors.Is(err, ErrBAC) {
		t.Errorf("wrong MRZ: %v", err)
	}
}

func TestUnwrapRefusesTamperedOrPlainResponses(t *testing.T) {
	v := loadBAC(t)
	newSession := func() *Session {
		s := NewSession(h(t, v.KSEnc), h(t, v.KSMac), h(t, v.SSC))
		s.Wrap(Command{INS: 0xA4, P1: 2, P2: 0x0C, Data: []byte{1, 0x1E}})
		return s
	}
	good := h(t, v.ProtectedSelect.Response)
	for i := 0; i < len(good)-2; i++ {
		bad := bytes.Clone(good)
		bad[i] ^= 0x40
		if _, _, err := newSession().Unwrap(bad); !errors.Is(err, ErrSM) {
			t.Errorf("byte %d flipped: %v", i, err)
		}
	}
	if _, sw, err := newSession().Unwrap([]byte{0x69, 0x88}); !errors.Is(err, ErrSM) || sw != 0x6988 {
		t.Errorf("plain 6988: %04X %v", sw, err)
	}
}

func TestWrapUnwrapRoundTripWithData(t *testing.T) {
	// A chip-side view built from the same primitives, for lengths the
	// example does not cover (long forms, extended Le).
	v := loadBAC(t)
	for _, n := range []int{1, 7, 8, 100, 127, 231, 300, 2023} {
		term := NewSession(h(t, v.KSEnc), h(t, v.KSMac), h(t, v.SSC))
		apdu, err := term.Wrap(Command{INS: 0xB0, Ne: n, Extended: n > 231})
		if err != nil {
			t.Fatal(err)
		}
		if n > 231 && apdu[4] != 0 {
			t.Errorf("Ne %d: not an extended APDU: %X", n, apdu)
		}
		chip := NewSession(h(t, v.KSEnc), h(t, v.KSMac), h(t, v.SSC))
		chip.increment()
		payload := bytes.Repeat([]byte{0xA5}, n)
		enc, _ := Encrypt3DES(chip.enc, Pad(payload))
		do87 := tlv(0x87, append([]byte{1}, enc...))
		do99 := []byte{0x99, 0x02, 0x90, 0x00}
		chip.increment()
		mac, _ := RetailMAC(chip.mac, append(append(append([]byte{}, chip.ssc[:]...), do87...), do99...))
		resp := append(append(append(do87, do99...), 0x8E, 0x08), mac...)
		resp = append(resp, 0x90, 0x00)
		data, sw, err := term.Unwrap(resp)
		if err != nil || sw != 0x9000 || !bytes.Equal(data, payload) {
			t.Errorf("n=%d: %v %04X", n, err, sw)
		}
	}
}

func TestMaxPlainResponse(t *testing.T) {
	for _, c := range []struct{ max, want int }{{256, 231}, {2048, 2023}} {
		if got := MaxPlainResponse(c.max); got != c.want {
			t.Errorf("MaxPlainResponse(%d) = %d, want %d", c.max, got, c.want)
		}
	}
}

func TestPadding(t *testing.T) {
	eq(t, "pad 0", Pad(nil), h(t, "8000000000000000"))
	eq(t, "pad 7", Pad(bytes.Repeat([]byte{1}, 7)), h(t, "0101010101010180"))
	eq(t, "pad 8", Pad(bytes.Repeat([]byte{1}, 8)), h(t, "01010101010101018000000000000000"))
	for _, bad := range []string{"0101010101010101", "0000000000000000", ""} {
		if _, err := Unpad(h(t, bad)); err == nil {
			t.Errorf("Unpad(%s) accepted", bad)
		}
	}
}
