package station

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/pki"
)

// claimMargin: a claimed card is verified within seconds, but the DS
// certificate must still be valid when it is; no card is claimed when the
// certificate (or its key usage period) ends sooner than this.
const claimMargin = 5 * time.Minute

// DSCertificate is the Document Signer certificate as the panel, /readyz and
// the metrics show it.
type DSCertificate struct {
	Subject   string     `json:"subject"`
	Serial    string     `json:"serial"`
	NotBefore time.Time  `json:"not_before"`
	NotAfter  time.Time  `json:"not_after"`
	UsageEnds *time.Time `json:"usage_ends,omitempty"` // privateKeyUsagePeriod
	// Problem is why it may not sign now (lds.DSProblem), "" when it may.
	Problem lds.DSProblem `json:"problem,omitempty"`
	// Ends is when it stops being able to sign: the earlier of NotAfter
	// and UsageEnds.
	Ends time.Time `json:"ends"`
	// ExpiresSoon: Ends is within Options.DSExpiryWarning.
	ExpiresSoon bool `json:"expires_soon"`
	// Outliving counts the documents signed since the station started
	// that expire after NotAfter (ICAO 9303-12 §5: a DS certificate should
	// outlive what it signs), NoExpiry those of them without expiry.
	Outliving int64 `json:"outliving"`
	NoExpiry  int64 `json:"outliving_no_expiry"`
}

func (s *Station) signerLoop(ctx context.Context) {
	every(ctx, s.opt.SignerCheckEvery, func() { s.checkSigner(ctx) })
}

// checkSigner asks the DS key's token whether it can sign, and the DS
// certificate whether it may (pki.CheckSigner, at now and at now +
// claimMargin); while either says no, preparation and claiming pause
// (issuance pauses) with the reason in the log, the panel, /readyz and the
// metrics.
func (s *Station) checkSigner(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := s.opt.Signer.Check(cctx)
	cancel()
	s.setSigner(err, s.checkCertificate(s.opt.Now()))
}

// checkCertificate applies the DS rule at now and at now + claimMargin.
func (s *Station) checkCertificate(now time.Time) error {
	cert := s.opt.Signer.Certificate()
	if cert == nil {
		return &lds.DSError{Problem: lds.DSUntrusted, Detail: "the signer has no certificate"}
	}
	if err := pki.CheckSigner(cert, s.opt.Signer.Public(), s.opt.CSCAs, now); err != nil {
		return err
	}
	if err := pki.CheckSigner(cert, s.opt.Signer.Public(), s.opt.CSCAs, now.Add(claimMargin)); err != nil {
		return fmt.Errorf("within %v: %w", claimMargin, err)
	}
	return nil
}

// certificateStatus describes the DS certificate; certErr from
// checkCertificate.
func (s *Station) certificateStatus(now time.Time, certErr error, prev *DSCertificate) *DSCertificate {
	cert := s.opt.Signer.Certificate()
	if cert == nil {
		return nil
	}
	c := &DSCertificate{Subject: cert.Subject.String(), Serial: serialHex(cert.SerialNumber),
		NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Ends: cert.NotAfter}
	if _, until, err := pki.UsagePeriod(cert); err == nil && !until.IsZero() {
		c.UsageEnds = &until
		if until.Before(c.Ends) {
			c.Ends = until
		}
	}
	var de *lds.DSError
	if errors.As(certErr, &de) {
		c.Problem = de.Problem
	}
	c.ExpiresSoon = c.Problem == "" && c.Ends.Sub(now) < s.opt.DSExpiryWarning
	if prev != nil && prev.Serial == c.Serial {
		c.Outliving, c.NoExpiry = prev.Outliving, prev.NoExpiry
	}
	return c
}

func serialHex(n *big.Int) string {
	if n == nil {
		return ""
	}
	return fmt.Sprintf("%X", n)
}

// setSigner records the token's answer (err) and the certificate's
// (certErr), logs and audits changes, warns once a day ahead of the
// certificate's end, and wakes the station when issuance may resume.
func (s *Station) setSigner(err, certErr error) {
	now := s.opt.Now()
	s.mu.Lock()
	was, wasErr := s.signerSt.OK, s.signerSt.Error
	cert := s.certificateStatus(now, certErr, s.signerSt.Certificate)
	s.signerSt.OK, s.signerSt.Error, s.signerSt.Checked = err == nil && certErr == nil, "", now
	s.signerSt.TokenOK = err == nil
	s.signerSt.Certificate = cert
	switch {
	case err != nil:
		s.signerSt.Error = err.Error()
	case certErr != nil:
		s.signerSt.Error = "Document Signer certificate: " + certErr.Error()
	}
	warn := cert != nil && cert.ExpiresSoon && now.Sub(s.expiryWarned) >= 24*time.Hour
	if warn {
		s.expiryWarned = now
	}
	msg, ok := s.signerSt.Error, s.signerSt.OK
	s.notifyLocked()
	s.mu.Unlock()

	backend := s.opt.Signer.Backend()
	switch {
	case !ok && (was || wasErr != msg):
		s.log.Error("Document Signer cannot sign: issuance paused", "backend", backend, "err", msg)
		s.audit(context.Background(), "signer_down", backend, msg)
	case ok && !was:
		s.log.Info("Document Signer available", "backend", backend, "certificate_ends", cert.Ends.Format(time.DateOnly))
		s.wake()
	}
	if warn {
		s.log.Warn("Document Signer certificate ends soon: renew it", "ends", cert.Ends.Format(time.DateOnly),
			"in", cert.Ends.Sub(now).Round(time.Hour), "subject", cert.Subject)
	}
}

// mayClaimSigner is the check made before every claim: the token answered
// its last check and the certificate may still sign when this card is
// verified. A certificate that stopped being able to sign since the last
// check is recorded at once.
func (s *Station) mayClaimSigner() bool {
	s.mu.Lock()
	ok := s.signerSt.OK
	s.mu.Unlock()
	if !ok {
		return false
	}
	if certErr := s.checkCertificate(s.opt.Now()); certErr != nil {
		s.setSigner(nil, certErr)
		return false
	}
	return true
}

// documentExpiry is the expiry a chip's MRZ carries, nil for a card
// without expiry (the MRZ's 991231 or fillers: chip-data.md §2).
func documentExpiry(m lds.MRZ) *time.Time {
	if m.DateOfExpiry == lds.MRZNoExpiryDate {
		return nil
	}
	t, err := time.Parse("060102", m.DateOfExpiry)
	if err != nil {
		return nil
	}
	if t.Year() < 2000 { // a CCCD issued now expires in this century
		t = t.AddDate(100, 0, 0)
	}
	return &t
}

// countSigned notes a signed document's expiry against the DS certificate
// that signed it, and logs (at most once an hour) when documents outlive
// the certificate.
func (s *Station) countSigned(expiry *time.Time) {
	cert := s.opt.Signer.Certificate()
	if cert == nil || !pki.Outlives(cert, expiry) {
		return
	}
	now := s.opt.Now()
	s.mu.Lock()
	c := s.signerSt.Certificate
	var n, none int64
	if c != nil {
		c.Outliving++
		if expiry == nil {
			c.NoExpiry++
		}
		n, none = c.Outliving, c.NoExpiry
	}
	warn := now.Sub(s.outlivingWarned) >= time.Hour
	if warn {
		s.outlivingWarned = now
	}
	s.mu.Unlock()
	if warn {
		s.log.Warn("documents signed now expire after the Document Signer certificate (ICAO 9303-12: DS validity = key usage period + document validity)",
			"certificate_ends", cert.NotAfter.Format(time.DateOnly), "documents", n, "without_expiry", none)
	}
}
