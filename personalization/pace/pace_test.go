package pace

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/sm"
)

type point struct{ X, Y string }

// vector is ICAO 9303-11 Appendix G.1, carried into testdata from
// ../shared/testvectors/icao9303-pace-gm-ecdh.json.
type vector struct {
	MRZInformation      string `json:"mrz_information"`
	KPi                 string `json:"k_pi"`
	MSESetAT            string `json:"mse_set_at"`
	EncryptedNonce      string `json:"encrypted_nonce"`
	NonceS              string `json:"nonce_s"`
	TerminalMappingSK   string `json:"terminal_mapping_private_key"`
	TerminalMappingPK   point  `json:"terminal_mapping_public_key"`
	ChipMappingPK       point  `json:"chip_mapping_public_key"`
	H                   point  `json:"mapping_shared_secret_h"`
	MappedGenerator     point  `json:"mapped_generator"`
	TerminalEphemeralSK string `json:"terminal_ephemeral_private_key"`
	TerminalEphemeralPK point  `json:"terminal_ephemeral_public_key"`
	ChipEphemeralPK     point  `json:"chip_ephemeral_public_key"`
	SharedSecretK       string `json:"shared_secret_k"`
	KSEnc               string `json:"ks_enc"`
	KSMac               string `json:"ks_mac"`
	TPCD                string `json:"terminal_token_t_ifd"`
	TIC                 string `json:"chip_token_t_ic"`
}

func loadVector(t *testing.T) vector {
	t.Helper()
	b, err := os.ReadFile("testdata/icao9303-pace-gm-ecdh.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vector
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

func (p point) bytes(t testing.TB) []byte { return unhex(t, "04"+p.X+p.Y) }

func eq(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %X\nwant %X", what, got, want)
	}
}

func eqInt(t *testing.T, what string, got *big.Int, want string) {
	t.Helper()
	if got == nil || fmt.Sprintf("%064X", got) != strings.ToUpper(want) {
		t.Errorf("%s:\n got %064X\nwant %s", what, got, want)
	}
}

// script is a chip that replays recorded answers: each command must be the
// bytes expected, and gets the answer given.
type script struct {
	t     *testing.T
	steps []step
	n     int
}

type step struct {
	name      string
	cmd, resp []byte
}

func (s *script) Transmit(cmd []byte) ([]byte, error) {
	s.t.Helper()
	if s.n >= len(s.steps) {
		s.t.Fatalf("unexpected command %X", cmd)
	}
	st := s.steps[s.n]
	s.n++
	if !bytes.Equal(cmd, st.cmd) {
		s.t.Errorf("%s command:\n got %X\nwant %X", st.name, cmd, st.cmd)
	}
	return st.resp, nil
}

// vectorChip replays the chip's side of Appendix G.1 and checks that the
// terminal sends exactly the vector's commands.
func vectorChip(t *testing.T, v vector) *script {
	ok := []byte{0x90, 0x00}
	cat := func(b ...[]byte) []byte { return bytes.Join(b, nil) }
	return &script{t: t, steps: []step{
		{"MSE:Set AT", unhex(t, v.MSESetAT), ok},
		{"GA encrypted nonce", unhex(t, "10860000027C0000"), cat(unhex(t, "7C128010"+v.EncryptedNonce), ok)},
		{"GA mapping", cat(unhex(t, "10860000457C438141"), v.TerminalMappingPK.bytes(t), []byte{0}), cat(unhex(t, "7C438241"), v.ChipMappingPK.bytes(t), ok)},
		{"GA key agreement", cat(unhex(t, "10860000457C438341"), v.TerminalEphemeralPK.bytes(t), []byte{0}), cat(unhex(t, "7C438441"), v.ChipEphemeralPK.bytes(t), ok)},
		{"GA mutual authentication", unhex(t, "008600000C7C0A8508"+v.TPCD+"00"), cat(unhex(t, "7C0A8608"+v.TIC), ok)},
	}}
}

// ICAO 9303-11 Appendix G.1, every intermediate value: the terminal's keys
// come from the vector through rnd, the chip's messages are replayed.
func TestPACEReproducesAppendixG1(t *testing.T) {
	v := loadVector(t)
	chip := vectorChip(t, v)
	rnd := bytes.NewReader(unhex(t, v.TerminalMappingSK+v.TerminalEphemeralSK))
	tm, err := establish(chip, MRZ(v.MRZInformation), CCCD, rnd)
	if err != nil {
		t.Fatal(err)
	}
	if chip.n != len(chip.steps) {
		t.Errorf("%d of %d commands sent", chip.n, len(chip.steps))
	}
	eq(t, "K_π", tm.kpi, unhex(t, v.KPi))
	eq(t, "nonce s", tm.nonce, unhex(t, v.NonceS))
	eqInt(t, "H.x", tm.hx, v.H.X)
	eqInt(t, "H.y", tm.hy, v.H.Y)
	eqInt(t, "G'.x", tm.gx, v.MappedGenerator.X)
	eqInt(t, "G'.y", tm.gy, v.MappedGenerator.Y)
	eq(t, "terminal ephemeral key", tm.pkPCD, v.TerminalEphemeralPK.bytes(t))
	eq(t, "shared secret K", tm.k, unhex(t, v.SharedSecretK))
	eq(t, "KS_enc", tm.ksEnc, unhex(t, v.KSEnc))
	eq(t, "KS_mac", tm.ksMac, unhex(t, v.KSMac))
	eq(t, "T_PCD", tm.tPCD, unhex(t, v.TPCD))
	eq(t, "T_IC", tm.tIC, unhex(t, v.TIC))
}

// Establish hands over an AES channel with the vector's session keys and
// SSC 0: its first protected command is the one those keys make.
func TestEstablishReturnsTheChannelOfTheSessionKeys(t *testing.T) {
	v := loadVector(t)
	chip := vectorChip(t, v)
	ch, err := Establish(chip, MRZ(v.MRZInformation), CCCD, bytes.NewReader(unhex(t, v.TerminalMappingSK+v.TerminalEphemeralSK)))
	if err != nil {
		t.Fatal(err)
	}
	if ch.Suite() != "AES" || !bytes.Equal(ch.SSC(), make([]byte, 16)) {
		t.Fatalf("channel %s SSC %X", ch.Suite(), ch.SSC())
	}
	ref, err := sm.NewAESSession(unhex(t, v.KSEnc), unhex(t, v.KSMac))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref.Wrap(sm.Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{0x01, 0x1E}})
	if err != nil {
		t.Fatal(err)
	}
	chip.steps = append(chip.steps, step{"protected SELECT", want, []byte{0x69, 0x88}})
	if _, err := ch.Transmit(unhex(t, "00A4020C02011E")); !errors.Is(err, sm.ErrSM) {
		t.Errorf("plain 6988 after PACE: %v", err)
	}
}

func TestPACEWithTheVectorRefusesAWrongChipToken(t *testing.T) {
	v := loadVector(t)
	chip := vectorChip(t, v)
	last := &chip.steps[len(chip.steps)-1]
	last.resp = bytes.Clone(last.resp)
	last.resp[5] ^= 0x01
	_, err := Establish(chip, MRZ(v.MRZInformation), CCCD, bytes.NewReader(unhex(t, v.TerminalMappingSK+v.TerminalEphemeralSK)))
	if !errors.Is(err, ErrToken) {
		t.Errorf("wrong T_IC: %v", err)
	}
}

func TestMSESetATCarriesTheParameterIDAndPasswordReference(t *testing.T) {
	for _, c := range []struct {
		pw   Password
		p    Params
		want string
	}{
		{MRZ("T22000129364081251010318"), CCCD, "0022C1A412800A04007F0007020204020283010184010D"},
		{CAN("123456"), CCCD, "0022C1A412800A04007F0007020204020283010284010D"},
		{CAN("123456"), Params{Protocol: CCCD.Protocol, ParameterID: 12}, "0022C1A412800A04007F0007020204020283010284010C"},
	} {
		chip := &script{t: t, steps: []step{{"MSE:Set AT", unhex(t, c.want), []byte{0x6A, 0x80}}}}
		_, err := Establish(chip, c.pw, c.p, bytes.NewReader(nil))
		var se *pcsc.StatusError
		if !errors.Is(err, ErrRefused) || !errors.As(err, &se) || se.SW != 0x6A80 {
			t.Errorf("refused MSE:Set AT: %v", err)
		}
	}
}

func TestParamsFromInfoAcceptsOnlyWhatThisTerminalImplements(t *testing.T) {
	p, err := ParamsFromInfo(lds.PACEInfo{Protocol: lds.OIDPACEECDHGMAES128, Version: 2, ParameterID: lds.Int(13)})
	if err != nil || !p.Protocol.Equal(CCCD.Protocol) || p.ParameterID != 13 {
		t.Errorf("the CCCD PACEInfo: %+v %v", p, err)
	}
	for name, info := range map[string]lds.PACEInfo{
		"parameterId 14":            {Protocol: lds.OIDPACEECDHGMAES128, Version: 2, ParameterID: lds.Int(14)},
		"no parameterId":            {Protocol: lds.OIDPACEECDHGMAES128, Version: 2},
		"version 1":                 {Protocol: lds.OIDPACEECDHGMAES128, Version: 1, ParameterID: lds.Int(13)},
		"integrated mapping":        {Protocol: asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 4, 2}, Version: 2, ParameterID: lds.Int(13)},
		"DH generic mapping (3DES)": {Protocol: asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 1, 1}, Version: 2, ParameterID: lds.Int(0)},
	} {
		if _, err := ParamsFromInfo(info); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Establish(&script{t: t}, CAN("123456"), Params{Protocol: CCCD.Protocol, ParameterID: 9}, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Establish with parameterId 9: %v", err)
	}
}

func TestPasswordNeverPrintsItsSecret(t *testing.T) {
	for _, pw := range []Password{CAN("246810"), MRZ("T22000129364081251010318")} {
		for _, s := range []string{fmt.Sprint(pw), fmt.Sprintf("%v %+v %#v %s %q %x", pw, pw, pw, pw, pw, pw), pw.LogValue().String()} {
			if strings.Contains(s, "246810") || strings.Contains(s, "T2200") || strings.Contains(strings.ToUpper(s), "7E2D2A41") || strings.Contains(s, "32343638") {
				t.Errorf("secret printed: %s", s)
			}
		}
	}
}
