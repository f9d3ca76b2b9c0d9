package personalization

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/sm"
)

// AIDeMRTD is the ICAO eMRTD application (ICAO 9303-10 §3.6.1: the LDS1
// application identifier A0 00 00 02 47 10 01).
var AIDeMRTD = []byte{0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01}

// Verifier reads a chip as a border terminal or the national app would
// (ICAO 9303-11 §4, §5, §6; chip-data.md §9), in steps that each add to one
// Report and can be used alone (a Session):
//
//   - Open: EF.CardAccess read in plain (readers try it first); with the
//     eMRTD application selected, plain access must be refused when the chip
//     is locked; then PACE with the CAN (or the MRZ) where EF.CardAccess
//     offers it, BAC with the MRZ otherwise;
//   - ReadLDS: EF.COM, EF.SOD and every data group EF.COM lists (DG3 and
//     DG4 excepted: they need Terminal Authentication), under secure
//     messaging;
//   - Passive: every hash, the SOD signature, DS → CSCA, the DS country =
//     the issuing state of DG1, DG1 = the MRZ used for access;
//   - ChipAuth: Chip Authentication with DG14's key, secure messaging
//     re-keyed, and a read under the new keys;
//   - ActiveAuth: a fresh challenge signed with DG15's key (RSA ISO/IEC
//     9796-2, or ECDSA as DG14 names it);
//   - Compare: with Expected, every byte equal to the image.
type Verifier struct {
	// CSCAs are the trust anchors of passive authentication.
	CSCAs []*x509.Certificate
	// Expected, when set, is the chip image the chip must hold byte for
	// byte (the station's own check after personalization).
	Expected *lds.Image
	// ExpectLocked: plain SELECT/READ of the application's files must be
	// refused (a personalized chip).
	ExpectLocked bool
	// MaxResponseData and ExtendedLength bound the reads (from the chip
	// product; 256 and short APDUs when unknown).
	MaxResponseData int
	ExtendedLength  bool
	// NoPACE: use BAC even where the chip offers PACE (a BAC-only reader).
	NoPACE bool
	Now    func() time.Time
	Rand   io.Reader
}

// VerifyOptions configure Verify: the Verifier's fields.
type VerifyOptions = Verifier

// VerifierFor is the verifier of a product's chips.
func VerifierFor(p Product) *Verifier {
	return &Verifier{MaxResponseData: p.MaxResponseData, ExtendedLength: p.ExtendedLength}
}

// AccessKeys open a chip: the MRZ's document number and dates (BAC, or PACE
// with the MRZ), and the CAN (PACE with the CAN, preferred when given).
type AccessKeys struct {
	BAC lds.BACInputs
	CAN string
}

// LogValue hides the keys: they open the chip and identify the citizen.
func (AccessKeys) LogValue() slog.Value { return slog.StringValue("access keys {redacted}") }

// Check is one verification step and its outcome.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Report is what the verification found.
type Report struct {
	Checks  []Check
	COM     lds.COM
	Files   map[lds.FID][]byte // as read from the chip
	SOD     *lds.SOD
	SODHash []byte // SHA-256 of EF.SOD
	DSCert  *x509.Certificate
	MRZ     lds.MRZ
	// Access says how the chip was opened: "PACE-CAN", "PACE-MRZ", "BAC";
	// ChipAuthenticated that Chip Authentication succeeded.
	Access            string
	ChipAuthenticated bool
	Verified          bool // every check passed
}

func (r *Report) add(name string, err error, detail string) bool {
	c := Check{Name: name, OK: err == nil, Detail: detail}
	if err != nil {
		c.Detail = err.Error()
	}
	r.Checks = append(r.Checks, c)
	return err == nil
}

// FailedChecks returns the checks that failed.
func (r *Report) FailedChecks() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// ErrVerification: the chip is not what it must be. The report says which
// check failed.
var ErrVerification = errors.New("verification failed")

// Verify reads a chip with BAC (or PACE with the MRZ where offered): see
// Verifier.
func Verify(t pcsc.Transport, bac lds.BACInputs, o VerifyOptions) (*Report, error) {
	return o.Verify(t, AccessKeys{BAC: bac})
}

// Verify runs every step. The error is non-nil when the chip is not
// verified; the report is always returned.
func (v *Verifier) Verify(t pcsc.Transport, keys AccessKeys) (*Report, error) {
	s, err := v.Open(t, keys)
	if err != nil {
		return s.r, err
	}
	for _, step := range []func() error{s.ReadLDS, s.Passive, s.ChipAuth, s.ActiveAuth, s.Compare} {
		if err := step(); err != nil {
			return s.r, err
		}
	}
	return s.Finish()
}

// Session is an open verification: the secure channel to the chip and what
// was read so far.
type Session struct {
	v     *Verifier
	r     *Report
	keys  AccessKeys
	ch    *sm.Channel
	chunk int
	dgs   map[int][]byte
	infos lds.SecurityInfos // from EF.CardAccess, nil without
}

// Report is what the session found so far.
func (s *Session) Report() *Report { return s.r }

// stop ends the session with the check that failed.
func (s *Session) stop(err error) error { return fmt.Errorf("%w: %w", ErrVerification, err) }

// Open selects the chip's application and opens secure messaging (see
// Verifier). The error ends the verification.
func (v *Verifier) Open(t pcsc.Transport, keys AccessKeys) (*Session, error) {
	if v.Now == nil {
		v.Now = time.Now
	}
	if v.Rand == nil {
		v.Rand = rand.Reader
	}
	if v.MaxResponseData == 0 {
		v.MaxResponseData = 256
	}
	s := &Session{v: v, r: &Report{Files: map[lds.FID][]byte{}}, keys: keys, dgs: map[int][]byte{}}

	// EF.CardAccess first, in plain, selected by FID (ICAO 9303-11 §4.2:
	// readers look for PACE before anything else).
	ca, err := readPlainFile(t, lds.FIDCardAccess, min(v.MaxResponseData, 256))
	switch {
	case err == nil:
		s.r.Files[lds.FIDCardAccess] = ca
		infos, err := lds.DecodeCardAccess(ca)
		if !s.r.add("decode EF.CardAccess", err, "") {
			return s, s.stop(err)
		}
		s.infos = infos
	case errors.Is(err, pcsc.ErrFileNotFound):
		// A chip without PACE (6A82, as chip-data.md §1 says readers expect).
	case pcsc.Gone(err):
		s.r.add("read EF.CardAccess", err, "")
		return s, s.stop(err)
	default:
		s.r.add("read EF.CardAccess", err, "")
		return s, s.stop(err)
	}

	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: AIDeMRTD}); err != nil {
		s.r.add("select eMRTD application", err, "")
		return s, s.stop(err)
	}
	if v.ExpectLocked {
		// A personalized chip refuses plain access to its files (6982).
		_, err := pcsc.Exec(t, pcsc.Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{0x01, 0x1E}})
		switch {
		case errors.Is(err, pcsc.ErrSecurityStatus):
			s.r.add("plain access refused", nil, "SELECT EF.COM without secure messaging answered 6982")
		case err == nil:
			s.r.add("plain access refused", errors.New("SELECT EF.COM without secure messaging was accepted"), "")
		default:
			var se *pcsc.StatusError
			if !errors.As(err, &se) {
				s.r.add("plain access refused", err, "")
				return s, s.stop(err)
			}
			s.r.add("plain access refused", nil, fmt.Sprintf("SELECT EF.COM without secure messaging answered %04X", se.SW))
		}
	}

	if pi, ok := s.paceInfo(); ok && !v.NoPACE {
		if err := s.pace(t, pi); err != nil {
			return s, s.stop(err)
		}
		// After PACE the application is selected again under secure
		// messaging (ICAO 9303-11 §4.2).
		if _, err := pcsc.Exec(s.ch, pcsc.Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: AIDeMRTD}); !s.r.add("select eMRTD application (secure messaging)", err, "") {
			return s, s.stop(err)
		}
	} else {
		sess, err := doBAC(t, keys.BAC, v.Rand)
		if !s.r.add("BAC", err, "mutual authentication with the MRZ keys") {
			return s, s.stop(err)
		}
		s.ch, s.r.Access = sm.NewBACChannel(t, sess), "BAC"
	}
	s.setChunk()
	return s, nil
}

// setChunk sizes the reads for the current channel and the product.
func (s *Session) setChunk() {
	s.chunk = s.ch.MaxPlainResponse(s.v.MaxResponseData + 2)
	if !s.v.ExtendedLength {
		s.chunk = min(s.chunk, s.ch.MaxPlainResponse(256+2))
	}
}

// ReadLDS reads EF.COM, EF.SOD and every data group EF.COM lists (DG3 and
// DG4 need Terminal Authentication: not read).
func (s *Session) ReadLDS() error {
	r := s.r
	com, err := s.readFile(lds.FIDCOM)
	if !r.add("read EF.COM", err, "") {
		return s.stop(err)
	}
	r.Files[lds.FIDCOM] = com
	if r.COM, err = lds.DecodeCOM(com); !r.add("decode EF.COM", err, "") {
		return s.stop(err)
	}
	sodBytes, err := s.readFile(lds.FIDSOD)
	if !r.add("read EF.SOD", err, "") {
		return s.stop(err)
	}
	r.Files[lds.FIDSOD] = sodBytes
	sum := sha256.Sum256(sodBytes)
	r.SODHash = sum[:]
	for _, tag := range r.COM.Tags {
		g, ok := lds.DataGroupByTag(tag)
		if !ok {
			r.add(fmt.Sprintf("data group tag %X", uint32(tag)), errors.New("EF.COM lists an unknown data group"), "")
			continue
		}
		if g.Number == 3 || g.Number == 4 {
			continue // EAC-protected (ICAO 9303-11 §7)
		}
		b, err := s.readFile(g.FID)
		if !r.add("read "+g.Name, err, "") {
			if errors.Is(err, sm.ErrSM) || isTransportError(err) {
				return s.stop(err)
			}
			continue
		}
		r.Files[g.FID] = b
		s.dgs[g.Number] = b
	}
	return nil
}

// Passive is passive authentication (ICAO 9303-11 §5.1).
func (s *Session) Passive() error {
	r := s.r
	sod, err := lds.DecodeSOD(r.Files[lds.FIDSOD])
	if !r.add("decode EF.SOD", err, "") {
		return nil
	}
	r.SOD, r.DSCert = sod, sod.Signer
	r.add("SOD signature", sod.VerifySignature(), "signed by "+sod.Signer.Subject.String())
	state := ""
	if dg1, ok := s.dgs[1]; ok {
		if m, err := lds.DecodeDG1(dg1); r.add("DG1 MRZ check digits", err, "") {
			r.MRZ, state = m, m.IssuingState
			bac := s.keys.BAC
			if r.Access != "PACE-CAN" && (m.DocumentNumber != bac.DocumentNumber || m.DateOfBirth != bac.DateOfBirth || m.DateOfExpiry != bac.DateOfExpiry) {
				r.add("DG1 agrees with the MRZ used for access", errors.New("DG1 holds another document number or dates"), "")
			}
		}
	} else {
		r.add("DG1 present", errors.New("EF.COM does not list DG1"), "")
	}
	r.add("Document Signer trusted", sod.VerifySigner(s.v.CSCAs, s.v.Now(), state), fmt.Sprintf("DS country = issuing state %s", state))
	r.add("data group hashes", sod.CheckHashes(s.dgs), fmt.Sprintf("%d data groups", len(s.dgs)))
	for n := range sod.Hashes {
		if _, read := s.dgs[n]; !read && n != 3 && n != 4 {
			r.add(fmt.Sprintf("DG%d listed in EF.SOD", n), errors.New("hashed in EF.SOD but not listed in EF.COM or not readable"), "")
		}
	}
	if ca, ok := s.r.Files[lds.FIDCardAccess]; ok {
		if dg14, ok := s.dgs[14]; !ok {
			r.add("DG14 present", errors.New("the chip offers PACE (EF.CardAccess) but EF.COM does not list DG14"), "")
		} else {
			r.add("EF.CardAccess repeated in DG14", lds.CardAccessInDG14(ca, dg14), "ICAO 9303-11 §9.2: passive authentication covers them")
		}
	}
	return nil
}

// ActiveAuth is Active Authentication (ICAO 9303-11 §6.1) with a fresh
// challenge, against DG15's key.
func (s *Session) ActiveAuth() error {
	dg15, ok := s.dgs[15]
	if !ok {
		s.r.add("DG15 present", errors.New("EF.COM does not list DG15: no Active Authentication"), "")
		return nil
	}
	// What a short protected response carries: a longer signature is asked
	// for in the extended form, where the chip takes it.
	shortFits := s.ch.MaxPlainResponse(pcsc.MaxShortNe + 2)
	err := activeAuthentication(s.ch, dg15, s.dgs[14], shortFits, s.v.ExtendedLength, s.v.Rand)
	s.r.add("Active Authentication", err, "fresh 8-byte challenge signed with DG15's key")
	if isTransportError(err) {
		return s.stop(err)
	}
	return nil
}

// Compare checks every file of the expected image byte for byte.
func (s *Session) Compare() error {
	if s.v.Expected == nil {
		return nil
	}
	for _, f := range s.v.Expected.Files {
		got, ok := s.r.Files[f.FID]
		switch {
		case !ok:
			s.r.add(f.Name+" equals the image", errors.New("not read from the chip"), "")
		case !bytes.Equal(got, f.Data):
			s.r.add(f.Name+" equals the image", fmt.Errorf("chip holds %d bytes that differ from the %d written%s", len(got), len(f.Data), firstDiff(got, f.Data)), "")
		default:
			s.r.add(f.Name+" equals the image", nil, fmt.Sprintf("%d bytes", len(got)))
		}
	}
	return nil
}

// Finish ends the session: the report, and ErrVerification naming the
// first failed check.
func (s *Session) Finish() (*Report, error) {
	s.r.Verified = len(s.r.FailedChecks()) == 0
	if !s.r.Verified {
		fc := s.r.FailedChecks()[0]
		return s.r, fmt.Errorf("%w: %s: %s", ErrVerification, fc.Name, fc.Detail)
	}
	return s.r, nil
}

// firstDiff says where two files first differ — the offset only: the bytes
// are personal data.
func firstDiff(a, b []byte) string {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf(" (first difference at offset %d)", i)
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf(" (%d bytes, %d written)", len(a), len(b))
	}
	return ""
}

// isTransportError reports errors that end the session (card gone, reader
// gone, pcscd gone, a broken secure messaging session) rather than a chip's
// answer to one command.
func isTransportError(err error) bool {
	return err != nil && (pcsc.Gone(err) || errors.Is(err, pcsc.ErrCardMute) || errors.Is(err, sm.ErrSM))
}

// doBAC runs Basic Access Control (ICAO 9303-11 §4.3): GET CHALLENGE, then
// EXTERNAL AUTHENTICATE with E.IFD ‖ M.IFD.
func doBAC(t pcsc.Transport, bac lds.BACInputs, rnd io.Reader) (*sm.Session, error) {
	m := lds.MRZ{DocumentNumber: bac.DocumentNumber, DateOfBirth: bac.DateOfBirth, DateOfExpiry: bac.DateOfExpiry}
	info, err := mrzInformation(m)
	if err != nil {
		return nil, err
	}
	rndIC, err := pcsc.Exec(t, pcsc.Command{INS: 0x84, Ne: 8})
	if err != nil {
		return nil, fmt.Errorf("GET CHALLENGE: %w", err)
	}
	ch, data, err := sm.NewBACChallenge(sm.NewBACKeys(info), rndIC, rnd)
	if err != nil {
		return nil, err
	}
	resp, err := pcsc.Exec(t, pcsc.Command{INS: 0x82, Data: data, Ne: 40})
	if err != nil {
		if errors.Is(err, pcsc.ErrAuthFailed) || errors.Is(err, pcsc.ErrSecurityStatus) {
			return nil, fmt.Errorf("%w: the chip refused our authentication (wrong MRZ?): %w", sm.ErrBAC, err)
		}
		return nil, fmt.Errorf("EXTERNAL AUTHENTICATE: %w", err)
	}
	return ch.Finish(resp)
}

// mrzInformation computes the BAC MRZ_information, refusing fields that are
// not MRZ characters.
func mrzInformation(m lds.MRZ) (s string, err error) {
	for _, f := range []string{m.DocumentNumber, m.DateOfBirth, m.DateOfExpiry} {
		if _, err := lds.CheckDigit(f); err != nil {
			return "", err
		}
	}
	if len(m.DocumentNumber) != 9 || len(m.DateOfBirth) != 6 || len(m.DateOfExpiry) != 6 {
		return "", errors.New("BAC inputs: document number 9 characters, dates YYMMDD")
	}
	return m.Information(), nil
}

// readFile selects an EF of the application under secure messaging and
// reads it whole.
func (s *Session) readFile(fid lds.FID) ([]byte, error) { return readEF(s.ch, fid, s.chunk) }

// readPlainFile selects an EF in plain and reads it whole (EF.CardAccess).
func readPlainFile(t pcsc.Transport, fid lds.FID, chunk int) ([]byte, error) {
	return readEF(t, fid, chunk)
}

// readEF selects an EF by FID and reads it whole: the first read gives the
// TLV header and with it the length (ICAO 9303-10 §4.4: every LDS EF is one
// data object).
func readEF(t pcsc.Transport, fid lds.FID, chunk int) ([]byte, error) {
	if _, err := pcsc.Exec(t, selectEF(fid)); err != nil {
		return nil, fmt.Errorf("SELECT %s: %w", fid, err)
	}
	var out []byte
	total := -1
	for total < 0 || len(out) < total {
		want := chunk
		if total >= 0 {
			want = min(want, total-len(out))
		}
		if len(out) > 0x7FFF {
			return nil, fmt.Errorf("READ BINARY %s: file longer than 32767 bytes", fid)
		}
		data, err := pcsc.Exec(t, pcsc.Command{INS: 0xB0, P1: byte(len(out) >> 8), P2: byte(len(out)), Ne: want})
		eof := errors.Is(err, pcsc.ErrEndOfFile)
		if err != nil && !eof {
			return nil, fmt.Errorf("READ BINARY %s at %d: %w", fid, len(out), err)
		}
		out = append(out, data...)
		if total < 0 {
			total, err = tlvTotal(out)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fid, err)
			}
		}
		if eof || len(data) == 0 {
			break
		}
	}
	if len(out) < total {
		return nil, fmt.Errorf("%s: %w: %d bytes of %d", fid, lds.ErrTLV, len(out), total)
	}
	return out[:total], nil
}

// tlvTotal returns the length of the data object that starts b (header
// included), from its first bytes.
func tlvTotal(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, fmt.Errorf("%w: file too short", lds.ErrTLV)
	}
	i := 1
	if b[0]&0x1F == 0x1F {
		for i < len(b) && b[i]&0x80 != 0 {
			i++
		}
		i++
	}
	if i >= len(b) {
		return 0, fmt.Errorf("%w: truncated tag", lds.ErrTLV)
	}
	n := int(b[i])
	i++
	if n >= 0x80 {
		k := n & 0x7F
		if k == 0 || k > 3 || i+k > len(b) {
			return 0, fmt.Errorf("%w: bad length", lds.ErrTLV)
		}
		n = 0
		for j := 0; j < k; j++ {
			n = n<<8 | int(b[i+j])
		}
		i += k
	}
	return i + n, nil
}

// activeAuthentication sends INTERNAL AUTHENTICATE with a fresh random
// challenge and verifies the signature with DG15's key (ICAO 9303-11 §6.1);
// a signature longer than shortFits is asked for in the extended form:
// RSA with ISO/IEC 9796-2, or ECDSA (plain r‖s) with the signature
// algorithm DG14's ActiveAuthenticationInfo names.
func activeAuthentication(t pcsc.Transport, dg15, dg14 []byte, shortFits int, extended bool, rnd io.Reader) error {
	pub, err := lds.DecodeDG15Key(dg15)
	if err != nil {
		return err
	}
	challenge := make([]byte, 8)
	if _, err := io.ReadFull(rnd, challenge); err != nil {
		return err
	}
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		// The signature has the modulus' length; under secure messaging a
		// 2048-bit one needs an extended response: ask for "all" in the
		// extended form when one chunk cannot hold it.
		k := (pub.N.BitLen() + 7) / 8
		ne := k
		if extended && k > shortFits {
			ne = pcsc.MaxExtendedNe
		}
		sig, err := pcsc.Exec(t, pcsc.Command{INS: 0x88, Data: challenge, Ne: ne})
		if err != nil {
			return fmt.Errorf("INTERNAL AUTHENTICATE: %w", err)
		}
		return VerifyAA(pub, challenge, sig)
	case *ecdsa.PublicKey:
		hash, err := aaSignatureHash(dg14)
		if err != nil {
			return err
		}
		n := 2 * ((pub.Curve.Params().BitSize + 7) / 8)
		sig, err := pcsc.Exec(t, pcsc.Command{INS: 0x88, Data: challenge, Ne: n})
		if err != nil {
			return fmt.Errorf("INTERNAL AUTHENTICATE: %w", err)
		}
		return verifyAAECDSA(pub, hash, challenge, sig)
	}
	return fmt.Errorf("%w: DG15 holds a %T key", ErrActiveAuthentication, pub)
}
