package personalization

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/sm"
)

// AIDeMRTD is the ICAO eMRTD application (ICAO 9303-10 §3.6.1: the LDS1
// application identifier A0 00 00 02 47 10 01).
var AIDeMRTD = []byte{0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// CSCAs are the trust anchors of passive authentication.
	CSCAs []*x509.Certificate
	// Expected, when set, is the chip image the chip must hold byte for
	// byte (the station's own check after personalization).
	Expected *lds.Image
	// ExpectLocked: plain SELECT/READ must be refused (a personalized chip).
	ExpectLocked bool
	// MaxResponseData and ExtendedLength bound the reads (from the chip
	// product; 256 and short APDUs when unknown).
	MaxResponseData int
	ExtendedLength  bool
	Now             func() time.Time
	Rand            io.Reader
}

// Check is one verification step and its outcome.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Report is what Verify found.
type Report struct {
	Checks   []Check
	COM      lds.COM
	Files    map[lds.FID][]byte // as read from the chip
	SOD      *lds.SOD
	SODHash  []byte // SHA-256 of EF.SOD
	DSCert   *x509.Certificate
	MRZ      lds.MRZ
	Verified bool // every check passed
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

// Verify reads a chip as a border terminal or the national app would (ICAO
// 9303-11 §4.3, §5, §6; chip-data.md §9): select the eMRTD application; when
// the chip must be locked, check that plain access is refused; BAC with the
// MRZ; secure messaging reads of EF.COM, EF.SOD and every data group EF.COM
// lists (DG3 and DG4 excepted: they need Terminal Authentication); passive
// authentication (every hash, the SOD signature, DS → CSCA, DS country =
// issuing state of DG1); Active Authentication with a fresh random
// challenge against DG15; and, with Expected, every byte equal to the image.
// The error is non-nil when the chip is not verified; the report is always
// returned.
func Verify(t pcsc.Transport, bac lds.BACInputs, o VerifyOptions) (*Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.MaxResponseData == 0 {
		o.MaxResponseData = 256
	}
	r := &Report{Files: map[lds.FID][]byte{}}

	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: AIDeMRTD}); err != nil {
		r.add("select eMRTD application", err, "")
		return r, fmt.Errorf("%w: %w", ErrVerification, err)
	}
	if o.ExpectLocked {
		// A locked chip refuses plain access (JMRTD: 6982).
		_, err := pcsc.Exec(t, pcsc.Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{0x01, 0x1E}})
		switch {
		case errors.Is(err, pcsc.ErrSecurityStatus):
			r.add("plain access refused", nil, "SELECT EF.COM without BAC answered 6982")
		case err == nil:
			r.add("plain access refused", errors.New("SELECT EF.COM without BAC was accepted"), "")
		default:
			var se *pcsc.StatusError
			if !errors.As(err, &se) {
				r.add("plain access refused", err, "")
				return r, fmt.Errorf("%w: %w", ErrVerification, err)
			}
			r.add("plain access refused", nil, fmt.Sprintf("SELECT EF.COM without BAC answered %04X", se.SW))
		}
	}

	s, err := doBAC(t, bac, o.Rand)
	if !r.add("BAC", err, "mutual authentication with the MRZ keys") {
		return r, fmt.Errorf("%w: %w", ErrVerification, err)
	}
	rd := &smReader{t: t, s: s, chunk: sm.MaxPlainResponse(o.MaxResponseData), extended: o.ExtendedLength}
	if !o.ExtendedLength {
		rd.chunk = min(rd.chunk, sm.MaxPlainResponse(256))
	}

	com, err := rd.readFile(lds.FIDCOM)
	if !r.add("read EF.COM", err, "") {
		return r, fmt.Errorf("%w: %w", ErrVerification, err)
	}
	r.Files[lds.FIDCOM] = com
	if r.COM, err = lds.DecodeCOM(com); !r.add("decode EF.COM", err, "") {
		return r, fmt.Errorf("%w: %w", ErrVerification, err)
	}
	sodBytes, err := rd.readFile(lds.FIDSOD)
	if !r.add("read EF.SOD", err, "") {
		return r, fmt.Errorf("%w: %w", ErrVerification, err)
	}
	r.Files[lds.FIDSOD] = sodBytes
	sum := sha256.Sum256(sodBytes)
	r.SODHash = sum[:]

	dgs := map[int][]byte{}
	for _, tag := range r.COM.Tags {
		g, ok := lds.DataGroupByTag(tag)
		if !ok {
			r.add(fmt.Sprintf("data group tag %X", uint32(tag)), errors.New("EF.COM lists an unknown data group"), "")
			continue
		}
		if g.Number == 3 || g.Number == 4 {
			continue // EAC-protected (ICAO 9303-11 §7)
		}
		b, err := rd.readFile(g.FID)
		if !r.add("read "+g.Name, err, "") {
			if errors.Is(err, sm.ErrSM) || isTransportError(err) {
				return r, fmt.Errorf("%w: %w", ErrVerification, err)
			}
			continue
		}
		r.Files[g.FID] = b
		dgs[g.Number] = b
	}

	// Passive authentication (ICAO 9303-11 §5.1).
	sod, err := lds.DecodeSOD(sodBytes)
	if r.add("decode EF.SOD", err, "") {
		r.SOD, r.DSCert = sod, sod.Signer
		r.add("SOD signature", sod.VerifySignature(), "signed by "+sod.Signer.Subject.String())
		state := ""
		if dg1, ok := dgs[1]; ok {
			if m, err := lds.DecodeDG1(dg1); r.add("DG1 MRZ check digits", err, "") {
				r.MRZ, state = m, m.IssuingState
				if m.DocumentNumber != bac.DocumentNumber || m.DateOfBirth != bac.DateOfBirth || m.DateOfExpiry != bac.DateOfExpiry {
					r.add("DG1 agrees with the MRZ used for BAC", errors.New("DG1 holds another document number or dates"), "")
				}
			}
		} else {
			r.add("DG1 present", errors.New("EF.COM does not list DG1"), "")
		}
		r.add("Document Signer trusted", sod.VerifySigner(o.CSCAs, o.Now(), state), fmt.Sprintf("DS country = issuing state %s", state))
		r.add("data group hashes", sod.CheckHashes(dgs), fmt.Sprintf("%d data groups", len(dgs)))
		for n := range sod.Hashes {
			if _, read := dgs[n]; !read && n != 3 && n != 4 {
				r.add(fmt.Sprintf("DG%d listed in EF.SOD", n), errors.New("hashed in EF.SOD but not listed in EF.COM or not readable"), "")
			}
		}
	}

	// Active Authentication (ICAO 9303-11 §6.1).
	if dg15, ok := dgs[15]; ok {
		err := activeAuthentication(rd, dg15, o.Rand)
		r.add("Active Authentication", err, "fresh 8-byte challenge signed with DG15's key")
		if isTransportError(err) {
			return r, fmt.Errorf("%w: %w", ErrVerification, err)
		}
	} else {
		r.add("DG15 present", errors.New("EF.COM does not list DG15: no Active Authentication"), "")
	}

	// Byte for byte against the prepared image.
	if o.Expected != nil {
		for _, f := range o.Expected.Files {
			got, ok := r.Files[f.FID]
			switch {
			case !ok:
				r.add(f.Name+" equals the image", errors.New("not read from the chip"), "")
			case !bytes.Equal(got, f.Data):
				r.add(f.Name+" equals the image", fmt.Errorf("chip holds %d bytes that differ from the %d written%s", len(got), len(f.Data), firstDiff(got, f.Data)), "")
			default:
				r.add(f.Name+" equals the image", nil, fmt.Sprintf("%d bytes", len(got)))
			}
		}
	}

	r.Verified = len(r.FailedChecks()) == 0
	if !r.Verified {
		fc := r.FailedChecks()[0]
		return r, fmt.Errorf("%w: %s: %s", ErrVerification, fc.Name, fc.Detail)
	}
	return r, nil
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
// gone, pcscd gone) rather than a chip's answer.
func isTransportError(err error) bool {
	if err == nil {
		return false
	}
	var se *pcsc.StatusError
	return !errors.As(err, &se) && !errors.Is(err, ErrActiveAuthentication) && !errors.Is(err, ErrVerification) &&
		!errors.Is(err, sm.ErrBAC) && !errors.Is(err, lds.ErrTLV)
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

// smReader reads files under secure messaging.
type smReader struct {
	t        pcsc.Transport
	s        *sm.Session
	chunk    int
	extended bool
}

// exec sends a protected command and returns the plain data, with a
// *pcsc.StatusError for a protected status word other than 9000 (6282, end of
// file, returns its data with the error).
func (r *smReader) exec(c sm.Command) ([]byte, error) {
	c.Extended = r.extended && c.Ne > 231
	apdu, err := r.s.Wrap(c)
	if err != nil {
		return nil, err
	}
	resp, err := r.t.Transmit(apdu)
	if err != nil {
		return nil, err
	}
	data, sw, err := r.s.Unwrap(resp)
	if err != nil {
		return nil, err
	}
	if sw != 0x9000 {
		return data, &pcsc.StatusError{SW: sw, INS: c.INS}
	}
	return data, nil
}

// readFile selects an EF and reads it whole: the first read gives the TLV
// header and with it the length (ICAO 9303-10 §4.4: every LDS EF is one
// data object).
func (r *smReader) readFile(fid lds.FID) ([]byte, error) {
	if _, err := r.exec(sm.Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{byte(fid >> 8), byte(fid)}}); err != nil {
		return nil, fmt.Errorf("SELECT %s: %w", fid, err)
	}
	var out []byte
	total := -1
	for total < 0 || len(out) < total {
		want := r.chunk
		if total >= 0 {
			want = min(want, total-len(out))
		}
		if len(out) > 0x7FFF {
			return nil, fmt.Errorf("READ BINARY %s: file longer than 32767 bytes", fid)
		}
		data, err := r.exec(sm.Command{INS: 0xB0, P1: byte(len(out) >> 8), P2: byte(len(out)), Ne: want})
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
// challenge and verifies the signature with DG15's key (ICAO 9303-11 §6.1).
func activeAuthentication(r *smReader, dg15 []byte, rnd io.Reader) error {
	pub, err := lds.DecodeDG15(dg15)
	if err != nil {
		return err
	}
	rsaPub, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: DG15 holds a %T key; only RSA (ISO/IEC 9796-2) is supported by this profile", ErrActiveAuthentication, pub)
	}
	challenge := make([]byte, 8)
	if _, err := io.ReadFull(rnd, challenge); err != nil {
		return err
	}
	// The signature has the modulus' length; with SM around it a 2048-bit
	// one needs an extended response (exec asks for it).
	k := (rsaPub.N.BitLen() + 7) / 8
	sig, err := r.exec(sm.Command{INS: 0x88, Data: challenge, Ne: k})
	if err != nil {
		return fmt.Errorf("INTERNAL AUTHENTICATE: %w", err)
	}
	return VerifyAA(rsaPub, challenge, sig)
}
