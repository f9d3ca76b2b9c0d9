package personalization

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/chipauth"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/pace"
)

// paceInfo is the PACEInfo of EF.CardAccess this terminal implements.
func (s *Session) paceInfo() (lds.PACEInfo, bool) {
	if s.infos == nil {
		return lds.PACEInfo{}, false
	}
	for _, pi := range s.infos.PACE() {
		if _, err := pace.ParamsFromInfo(pi); err == nil {
			return pi, true
		}
	}
	return lds.PACEInfo{}, false
}

// pace runs PACE (ICAO 9303-11 §4.4) with the CAN when one was given, with
// the MRZ otherwise.
func (s *Session) pace(t pcsc.Transport, pi lds.PACEInfo) error {
	params, err := pace.ParamsFromInfo(pi)
	if err != nil {
		s.r.add("PACE", err, "")
		return err
	}
	pw, what := pace.CAN(s.keys.CAN), "PACE-CAN"
	if s.keys.CAN == "" {
		m := lds.MRZ{DocumentNumber: s.keys.BAC.DocumentNumber, DateOfBirth: s.keys.BAC.DateOfBirth, DateOfExpiry: s.keys.BAC.DateOfExpiry}
		info, err := mrzInformation(m)
		if err != nil {
			s.r.add("PACE", err, "")
			return err
		}
		pw, what = pace.MRZ(info), "PACE-MRZ"
	}
	ch, err := pace.Establish(t, pw, params, s.v.Rand)
	if !s.r.add(what, err, "generic mapping, ECDH, AES secure messaging") {
		return err
	}
	s.ch, s.r.Access = ch, what
	return nil
}

// ChipAuth is Chip Authentication (ICAO 9303-11 §6.2) with the key DG14
// names, when it names one: secure messaging restarts with keys only the
// holder of the key's private half can derive, and EF.COM is read again
// under them — the chip proves it holds DG14's key.
func (s *Session) ChipAuth() error {
	dg14, ok := s.dgs[14]
	if !ok {
		return nil
	}
	infos, err := lds.DecodeDG14(dg14)
	if !s.r.add("decode DG14", err, "") {
		return nil
	}
	keys := infos.ChipAuthenticationPublicKeys()
	if len(keys) == 0 {
		return nil
	}
	params := chipauth.CCCD
	if cas := infos.ChipAuthentication(); len(cas) > 0 {
		if params, err = chipauth.ParamsFromInfo(cas[0]); !s.r.add("Chip Authentication protocol", err, "") {
			return nil
		}
	}
	err = chipauth.Authenticate(s.ch, params, keys[0].PublicKey, s.v.Rand)
	if err == nil {
		// Under the new keys: a read the chip can only answer if it
		// derived them from DG14's key.
		var com []byte
		if com, err = s.readFile(lds.FIDCOM); err == nil && !bytes.Equal(com, s.r.Files[lds.FIDCOM]) {
			err = errors.New("EF.COM read under the new keys differs")
		}
		s.setChunk()
	}
	if !s.r.add("Chip Authentication", err, "ECDH with DG14's key, secure messaging re-keyed") {
		return s.stop(err)
	}
	s.r.ChipAuthenticated = true
	return nil
}

// aaSignatureHash is the hash of ECDSA Active Authentication: the one
// DG14's ActiveAuthenticationInfo names (ICAO 9303-11 §9.2.8).
func aaSignatureHash(dg14 []byte) (crypto.Hash, error) {
	if dg14 == nil {
		return 0, fmt.Errorf("%w: an ECDSA key in DG15 and no DG14 naming the signature algorithm", ErrActiveAuthentication)
	}
	infos, err := lds.DecodeDG14(dg14)
	if err != nil {
		return 0, err
	}
	aa := infos.ActiveAuthentication()
	if len(aa) == 0 {
		return 0, fmt.Errorf("%w: DG14 has no ActiveAuthenticationInfo", ErrActiveAuthentication)
	}
	return ECDSAPlainHash(aa[0].SignatureAlgorithm)
}

// verifyAAECDSA checks a plain r‖s signature of the challenge.
func verifyAAECDSA(pub *ecdsa.PublicKey, h crypto.Hash, challenge, sig []byte) error {
	return VerifyECDSAPlainWith(pub, h, challenge, sig)
}
