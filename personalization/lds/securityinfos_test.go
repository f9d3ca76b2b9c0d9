package lds

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cccd-station/station/internal/brainpool"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %X\nwant %X", what, got, want)
	}
}

// realCardAccess is EF.CardAccess of a real CCCD card as iOS readers
// hard-code it (chip-data.md §1).
const realCardAccess = "3134300d060804007f0007020202020101300f060a04007f000702020302020201013012060a04007f0007020204020202010202010d"

// cccdCardAccessInfos are its three infos, deliberately not in DER order.
func cccdCardAccessInfos() SecurityInfos {
	return SecurityInfos{
		PACEInfo{Protocol: OIDPACEECDHGMAES128, Version: 2, ParameterID: Int(13)},
		ChipAuthenticationInfo{Protocol: OIDCAECDHAES128, Version: 1},
		TerminalAuthenticationInfo{Version: 1},
	}
}

func TestEncodeCardAccessReproducesTheRealCCCDCard(t *testing.T) {
	got, err := EncodeCardAccess(cccdCardAccessInfos())
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "EF.CardAccess", got, mustHex(t, realCardAccess))
}

// ICAO 9303-11 Appendix G.1: EF.CardAccess with one PACEInfo.
func TestEncodeCardAccessReproducesThePACEVector(t *testing.T) {
	b, err := os.ReadFile("testdata/icao9303-pace-gm-ecdh.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		EFCardAccess string `json:"ef_card_access"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	got, err := EncodeCardAccess(SecurityInfos{PACEInfo{Protocol: OIDPACEECDHGMAES128, Version: 2, ParameterID: Int(13)}})
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "EF.CardAccess of Appendix G.1", got, mustHex(t, v.EFCardAccess))
	infos, err := DecodeCardAccess(mustHex(t, v.EFCardAccess))
	if err != nil {
		t.Fatal(err)
	}
	if p := infos.PACE(); len(p) != 1 || !p[0].Protocol.Equal(OIDPACEECDHGMAES128) || p[0].Version != 2 || p[0].ParameterID == nil || *p[0].ParameterID != 13 {
		t.Errorf("decoded %+v", infos)
	}
}

func TestDecodeCardAccessReadsTheRealCCCDCard(t *testing.T) {
	infos, err := DecodeCardAccess(mustHex(t, realCardAccess))
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 3 {
		t.Fatalf("%d infos", len(infos))
	}
	ta, ca, pace := infos.TerminalAuthentication(), infos.ChipAuthentication(), infos.PACE()
	if len(ta) != 1 || ta[0].Version != 1 || ta[0].EFCVCA != nil {
		t.Errorf("TerminalAuthenticationInfo %+v", ta)
	}
	if len(ca) != 1 || !ca[0].Protocol.Equal(OIDCAECDHAES128) || ca[0].Version != 1 || ca[0].KeyID != nil {
		t.Errorf("ChipAuthenticationInfo %+v", ca)
	}
	if len(pace) != 1 || !pace[0].Protocol.Equal(OIDPACEECDHGMAES128) || pace[0].Version != 2 || *pace[0].ParameterID != 13 {
		t.Errorf("PACEInfo %+v", pace)
	}
	again, err := EncodeCardAccess(infos)
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "re-encoded", again, mustHex(t, realCardAccess))
}

func testKey(t *testing.T, c elliptic.Curve) *ecdsa.PublicKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &k.PublicKey
}

// DG14 repeats EF.CardAccess's infos byte for byte (ICAO 9303-11 §9.2.5)
// and adds the Chip Authentication key and ActiveAuthenticationInfo
// (cccd.md §5).
func TestDG14CarriesTheCardAccessInfosAndTheKeys(t *testing.T) {
	caKey := testKey(t, brainpool.P256r1())
	infos := append(cccdCardAccessInfos(),
		ChipAuthenticationPublicKeyInfo{Protocol: OIDPKECDH, PublicKey: caKey},
		ActiveAuthenticationInfo{Version: 1, SignatureAlgorithm: OIDECDSAPlainSHA256},
	)
	dg14, err := EncodeDG14(infos)
	if err != nil {
		t.Fatal(err)
	}
	if dg14[0] != 0x6E {
		t.Fatalf("DG14 tag %02X", dg14[0])
	}
	ca := mustHex(t, realCardAccess)
	inner, _ := ParseOne(ca, 0x31)
	if !bytes.Contains(dg14, inner.Value) {
		t.Errorf("DG14 does not repeat EF.CardAccess's infos byte for byte:\n%X\n%X", dg14, inner.Value)
	}
	if err := CardAccessInDG14(ca, dg14); err != nil {
		t.Errorf("CardAccessInDG14: %v", err)
	}
	// A DG14 that lacks the TerminalAuthenticationInfo does not repeat
	// EF.CardAccess.
	short, err := EncodeDG14(infos[:2])
	if err != nil {
		t.Fatal(err)
	}
	if err := CardAccessInDG14(ca, short); !errors.Is(err, ErrCardAccessNotInDG14) {
		t.Errorf("DG14 without TerminalAuthenticationInfo: %v", err)
	}
	got, err := DecodeDG14(dg14)
	if err != nil {
		t.Fatal(err)
	}
	pk := got.ChipAuthenticationPublicKeys()
	if len(pk) != 1 || pk[0].KeyID != nil || !pk[0].PublicKey.Equal(caKey) {
		t.Errorf("ChipAuthenticationPublicKeyInfo %+v", pk)
	}
	aa := got.ActiveAuthentication()
	if len(aa) != 1 || aa[0].Version != 1 || !aa[0].SignatureAlgorithm.Equal(OIDECDSAPlainSHA256) {
		t.Errorf("ActiveAuthenticationInfo %+v", aa)
	}
	if len(got.PACE()) != 1 || len(got.ChipAuthentication()) != 1 || len(got.TerminalAuthentication()) != 1 {
		t.Errorf("decoded %d infos: %+v", len(got), got)
	}
	again, err := EncodeDG14(got)
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "DG14 re-encoded", again, dg14)
}

func TestSecurityInfosKeepOptionalFieldsAndUnknownProtocols(t *testing.T) {
	// A PACEDomainParameterInfo-like info (id-PACE-ECDH-GM, ten arcs) and
	// an EFDIR-like unknown OID are kept raw.
	unknown1 := mustHex(t, "3012060904007F000702020402 3005 0603 2A0304")
	unknown2 := mustHex(t, "3009 0604 2A030405 0201 07")
	infos := SecurityInfos{
		ChipAuthenticationInfo{Protocol: OIDCAECDHAES128, Version: 1, KeyID: Int(1)},
		ChipAuthenticationPublicKeyInfo{Protocol: OIDPKECDH, PublicKey: testKey(t, elliptic.P256()), KeyID: Int(1)},
		TerminalAuthenticationInfo{Version: 1, EFCVCA: mustHex(t, "3004 0402 011C")},
		RawSecurityInfo{Protocol: asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 2}, DER: unknown1},
		RawSecurityInfo{Protocol: asn1.ObjectIdentifier{1, 2, 3, 4, 5}, DER: unknown2},
	}
	b, err := EncodeCardAccess(infos)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCardAccess(b)
	if err != nil {
		t.Fatal(err)
	}
	ca := got.ChipAuthentication()
	if len(ca) != 1 || ca[0].KeyID == nil || *ca[0].KeyID != 1 {
		t.Errorf("keyId: %+v", ca)
	}
	pk := got.ChipAuthenticationPublicKeys()
	if len(pk) != 1 || pk[0].KeyID == nil || *pk[0].KeyID != 1 || pk[0].PublicKey.Curve != elliptic.P256() {
		t.Errorf("public key info: %+v", pk)
	}
	ta := got.TerminalAuthentication()
	if len(ta) != 1 {
		t.Fatalf("TA %+v", ta)
	}
	sameBytes(t, "efCVCA", ta[0].EFCVCA, mustHex(t, "3004 0402 011C"))
	var raws int
	for _, i := range got {
		if r, ok := i.(RawSecurityInfo); ok {
			raws++
			if !bytes.Equal(r.DER, unknown1) && !bytes.Equal(r.DER, unknown2) {
				t.Errorf("raw info %X", r.DER)
			}
		}
	}
	if raws != 2 {
		t.Errorf("%d raw infos, want 2", raws)
	}
}

func TestDecodeSecurityInfosRefusesWhatIsNotDER(t *testing.T) {
	for name, s := range map[string]string{
		"empty":                                      "",
		"a SEQUENCE, not a SET":                      "3012060A04007F0007020204020202010202010D",
		"data after the SET":                         "31143012060A04007F0007020204020202010202010D00",
		"long form length under 128":                 "318114 3012060A04007F0007020204020202010202010D",
		"PACEInfo version with a leading 00":         "3115 3013060A04007F000702020402020202000202010D",
		"negative parameterId":                       "3114 3012060A04007F000702020402020201020201F3",
		"PACEInfo without version":                   "310E 300C060A04007F00070202040202",
		"PACEInfo with a third integer":              "3117 3015060A04007F0007020204020202010202010D020101",
		"an element that is not a SEQUENCE":          "3103 020101",
		"truncated":                                  "31143012060A04007F0007020204020202010202",
		"ActiveAuthenticationInfo without algorithm": "310D 300B 0606678108010105 020101",
	} {
		if _, err := DecodeCardAccess(mustHex(t, s)); !errors.Is(err, ErrSecurityInfos) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A Chip Authentication key whose point is not on its curve.
	k := testKey(t, brainpool.P256r1())
	info, err := ChipAuthenticationPublicKeyInfo{Protocol: OIDPKECDH, PublicKey: k}.marshal()
	if err != nil {
		t.Fatal(err)
	}
	info[len(info)-1] ^= 1
	if _, err := DecodeCardAccess(TLV(0x31, info)); !errors.Is(err, ErrSecurityInfos) || !errors.Is(err, ErrECKey) {
		t.Errorf("CA public key off the curve: %v", err)
	}
	if _, err := DecodeDG14(mustHex(t, realCardAccess)); err == nil {
		t.Error("DG14 without its 6E tag was accepted")
	}
}

func TestEncodeSecurityInfosRefusesWrongProtocols(t *testing.T) {
	for name, i := range map[string]SecurityInfo{
		"PACEInfo with a CA OID":            PACEInfo{Protocol: OIDCAECDHAES128, Version: 2},
		"CA info with a PACE OID":           ChipAuthenticationInfo{Protocol: OIDPACEECDHGMAES128, Version: 1},
		"CA public key with id-PK-DH":       ChipAuthenticationPublicKeyInfo{Protocol: OIDPKDH, PublicKey: testKey(t, elliptic.P256())},
		"CA public key on an unknown curve": ChipAuthenticationPublicKeyInfo{Protocol: OIDPKECDH, PublicKey: testKey(t, elliptic.P384())},
	} {
		if _, err := EncodeCardAccess(SecurityInfos{i}); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
}
