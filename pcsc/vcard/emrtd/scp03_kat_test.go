package emrtd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scp03Vectors is testdata/gp-scp03.json (osmocom pySim's SCP03 tests;
// GlobalPlatform Card Specification 2.3 Amendment D).
type scp03Vectors struct {
	Keysets map[string]struct{ KVN, ENC, MAC, DEK string } `json:"keysets"`
	Plain   map[string]struct {
		Command  string `json:"command"`
		Response string `json:"response"`
	} `json:"plain"`
	Sessions []struct {
		Keyset       string `json:"keyset"`
		Level        string `json:"security_level"`
		IU           string `json:"initialize_update"`
		IUResponse   string `json:"initialize_update_response"`
		ExternalAuth string `json:"external_authenticate"`
		GetDataEID   struct {
			Wrapped         string `json:"wrapped_command"`
			WrappedResponse string `json:"wrapped_response"`
		} `json:"get_data_eid"`
		Case1 string `json:"case1"`
		Case2 string `json:"case2"`
		Case3 string `json:"case3"`
		Case4 string `json:"case4"`
	} `json:"sessions"`
}

func loadSCP03Vectors(t *testing.T) scp03Vectors {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "gp-scp03.json"))
	if err != nil {
		t.Fatalf("reading the SCP03 vectors: %v", err)
	}
	var v scp03Vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding the SCP03 vectors: %v", err)
	}
	if len(v.Sessions) == 0 {
		t.Fatal("no SCP03 sessions in the vectors")
	}
	return v
}

// scp03VectorAID is the AID whose pseudo-random card challenge the vectors
// carry: the vectors were recorded with an eUICC, whose ISD-R (GSMA SGP.22)
// ran the secure channel. The cccd chip uses its eMRTD application's AID.
const scp03VectorAID = "A0000005591010FFFFFFFF8900000100"

// katSCP03Chip is a cccd chip set up as the vectors' card: the vector's static
// keys and key version, diversification data 00…00 (IC fabricator, type,
// serial and batch 0), the sequence counter one below the vector's (the chip
// adds one per INITIALIZE UPDATE) and the vector card's AID in the
// challenge derivation.
func katSCP03Chip(t *testing.T, v scp03Vectors, i int) *Chip {
	t.Helper()
	s := v.Sessions[i]
	ks := v.Keysets[s.Keyset]
	m := ModelCCCD
	m.ICFabricator, m.ICType = 0, 0
	c := New(m, WithSerial(0, 0))
	c.scpKeys = scp03Keys{kvn: unhex(t, ks.KVN)[0], enc: unhex(t, ks.ENC), mac: unhex(t, ks.MAC), dek: unhex(t, ks.DEK)}
	resp := unhex(t, s.IUResponse)
	c.scpSeq = (uint32(resp[29])<<16 | uint32(resp[30])<<8 | uint32(resp[31])) - 1
	c.scpAID = unhex(t, scp03VectorAID)
	return c
}

// TestSCP03KnownAnswersFromTheCardSide runs every session of the GP Amd D
// vectors against the card side: through Process, INITIALIZE UPDATE answers
// the vector's response byte for byte (diversification data, KVN, i = 70,
// the pseudo-random card challenge, the card cryptogram, the sequence
// counter) and EXTERNAL AUTHENTICATE is accepted at level 33 (levels 11 and
// 03 are refused by the chip's policy with 6982); then the session — the
// chip's own after EXTERNAL AUTHENTICATE at 33, one authenticated with the
// vector's EXTERNAL AUTHENTICATE otherwise — unwraps every wrapped command
// (get_data_eid, case1-case4 in order: MAC chaining and encryption counter
// carry over) to the plain command, and wraps the plain get_data_eid
// response into the vector's wrapped response.
func TestSCP03KnownAnswersFromTheCardSide(t *testing.T) {
	v := loadSCP03Vectors(t)
	for i, s := range v.Sessions {
		t.Run(s.Keyset+"/level-"+s.Level, func(t *testing.T) {
			c := katSCP03Chip(t, v, i)
			r := newReader(t, c)
			r.selectApplet()
			iu := r.expect("INITIALIZE UPDATE", unhex(t, s.IU), swOK)
			eqHex(t, "INITIALIZE UPDATE response", iu, strings.ToUpper(s.IUResponse))

			var sess *scp03Session
			if s.Level == "33" {
				r.expect("EXTERNAL AUTHENTICATE", unhex(t, s.ExternalAuth), swOK)
				sess = c.scp
			} else {
				r.expect("EXTERNAL AUTHENTICATE below level 13", unhex(t, s.ExternalAuth), swSecurityStatus)
				if c.scp != nil {
					t.Fatal("a session opened below level 13")
				}
				host := unhex(t, s.IU)[5:13]
				sess = c.scpKeys.open(host, iu[13:21])
				ea, _ := parseCommand(unhex(t, s.ExternalAuth))
				if !sess.externalAuthenticate(ea) {
					t.Fatal("the session refuses the vector's EXTERNAL AUTHENTICATE")
				}
			}
			if hx([]byte{sess.level}) != s.Level {
				t.Fatalf("session level %02X, want %s", sess.level, s.Level)
			}
			for _, step := range []struct{ name, wrapped string }{
				{"get_data_eid", s.GetDataEID.Wrapped}, {"case1", s.Case1}, {"case2", s.Case2},
				{"case3", s.Case3}, {"case4", s.Case4},
			} {
				cmd, ok := parseCommand(unhex(t, step.wrapped))
				if !ok {
					t.Fatalf("%s: the vector's APDU does not parse", step.name)
				}
				inner, ok := sess.unwrap(cmd)
				if !ok {
					t.Fatalf("%s: the card refuses the vector's wrapped command", step.name)
				}
				ne := 0
				if inner.hasLe {
					ne = inner.ne
				}
				got := buildAPDU(inner.cla, inner.ins, inner.p1, inner.p2, inner.data, ne, false)
				eqHex(t, step.name+" unwrapped", got, strings.ToUpper(v.Plain[step.name].Command))
				if step.name == "get_data_eid" {
					resp := sess.wrap(unhex(t, v.Plain[step.name].Response), swOK)
					eqHex(t, "get_data_eid wrapped response", resp, strings.ToUpper(s.GetDataEID.WrappedResponse)+"9000")
				} else {
					sess.wrap(nil, swOK) // the card answers each command; the counter moves on
				}
			}
		})
	}
}

// TestSCP03PseudoRandomChallengeNeedsTheVectorsAID: with the eMRTD
// application's AID (what the chip uses) the challenge differs; with the
// vector card's ISD-R AID it is the vector's.
func TestSCP03PseudoRandomChallengeNeedsTheVectorsAID(t *testing.T) {
	v := loadSCP03Vectors(t)
	c := katSCP03Chip(t, v, 0)
	resp := unhex(t, v.Sessions[0].IUResponse)
	seq := c.scpSeq + 1
	eqHex(t, "challenge with the vector's AID", c.scpKeys.cardChallenge(seq, unhex(t, scp03VectorAID)), hx(resp[13:21]))
	if hx(c.scpKeys.cardChallenge(seq, AIDPassport)) == hx(resp[13:21]) {
		t.Error("the eMRTD AID gives the vector's challenge too")
	}
}

// TestAESCMACKnownAnswers pins AES-CMAC on RFC 4493 §4 (AES-128, the four
// messages) and NIST SP 800-38B D.3 (AES-256, the empty message).
func TestAESCMACKnownAnswers(t *testing.T) {
	k128 := "2B7E151628AED2A6ABF7158809CF4F3C"
	msg := "6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E5130C81C46A35CE411E5FBC1191A0A52EFF69F2445DF4F9B17AD2B417BE66C3710"
	for _, tc := range []struct {
		key  string
		n    int
		want string
	}{
		{k128, 0, "BB1D6929E95937287FA37D129B756746"},
		{k128, 16, "070A16B46B4D4144F79BDD9DD04A287C"},
		{k128, 40, "DFA66747DE9AE63030CA32611497C827"},
		{k128, 64, "51F0BEBF7E3B9D92FC49741779363CFE"},
		{"603DEB1015CA71BE2B73AEF0857D77811F352C073B6108D72D9810A30914DFF4", 0, "028962F61B7BF89EFC6B551F4667D983"},
	} {
		eqHex(t, "CMAC", aesCMAC(unhex(t, tc.key), unhex(t, msg)[:tc.n]), tc.want)
	}
}
