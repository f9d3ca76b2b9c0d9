package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/signer"
)

// testSigner makes a TEST PKI with o and opens its DS.
func testSigner(t *testing.T, o Options) (*PKI, signer.Signer) {
	t.Helper()
	o.Dir = filepath.Join(t.TempDir(), "pki")
	if err := Init(o); err != nil {
		t.Fatal(err)
	}
	p, err := Load(o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.Open(context.Background(), p.Signer)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return p, s
}

func wantProblem(t *testing.T, what string, err error, want lds.DSProblem) {
	t.Helper()
	var de *lds.DSError
	if !errors.As(err, &de) || de.Problem != want || !errors.Is(err, lds.ErrSODSignerNotTrusted) {
		t.Errorf("%s: %v, want problem %s", what, err, want)
	}
}

// Each reason the station must know before it signs or touches a card,
// named by its problem.
func TestCheckSignerNamesEveryProblem(t *testing.T) {
	now := time.Now()
	p, s := testSigner(t, Options{})
	if err := CheckSigner(s.Certificate(), s.Public(), p.CSCAs, now); err != nil {
		t.Fatalf("a fresh TEST PKI: %v", err)
	}
	// The TEST DS carries its key usage period and lives 25 years past it.
	from, until, err := UsagePeriod(s.Certificate())
	if err != nil || until.Sub(from) < 364*24*time.Hour || s.Certificate().NotAfter.Before(until.AddDate(25, 0, 0).Add(-time.Hour)) {
		t.Errorf("usage period %v – %v (%v), certificate until %v", from, until, err, s.Certificate().NotAfter)
	}
	if err := CheckSigner(s.Certificate(), s.Public(), p.CSCAs, until.Add(time.Hour)); err == nil {
		t.Error("signing after the key usage period accepted")
	} else {
		wantProblem(t, "after the usage period", err, lds.DSUsageOver)
	}

	ep, es := testSigner(t, Options{Now: now.AddDate(-2, 0, 0), DSUsage: 24 * time.Hour, DSValidity: 365 * 24 * time.Hour})
	wantProblem(t, "expired", CheckSigner(es.Certificate(), es.Public(), ep.CSCAs, now), lds.DSExpired)

	fp, fs := testSigner(t, Options{Now: now.Add(48 * time.Hour)})
	wantProblem(t, "not yet valid", CheckSigner(fs.Certificate(), fs.Public(), fp.CSCAs, now), lds.DSNotYetValid)

	other, _ := testSigner(t, Options{})
	wantProblem(t, "another CSCA", CheckSigner(s.Certificate(), s.Public(), other.CSCAs, now), lds.DSUntrusted)

	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wantProblem(t, "a key that is not the certificate's", CheckSigner(s.Certificate(), k.Public(), p.CSCAs, now), lds.DSKeyMismatch)

	// A certificate of another country, and one without digitalSignature,
	// issued by the same CSCA (re-signed here with a throwaway CA so the
	// rule, not the signature, decides).
	ca, caKey := throwawayCA(t, "VN")
	for name, tc := range map[string]struct {
		country string
		usage   x509.KeyUsage
		want    lds.DSProblem
	}{
		"country":   {"TH", x509.KeyUsageDigitalSignature, lds.DSCountry},
		"key usage": {"VN", x509.KeyUsageCertSign, lds.DSKeyUsage},
	} {
		cert, key := throwawayDS(t, ca, caKey, tc.country, tc.usage)
		wantProblem(t, name, CheckSigner(cert, key.Public(), []*x509.Certificate{ca}, now), tc.want)
	}
}

func TestOutlivesComparesTheDocumentsExpiry(t *testing.T) {
	_, s := testSigner(t, Options{DSValidity: 2 * 365 * 24 * time.Hour})
	end := s.Certificate().NotAfter
	before, after := end.AddDate(0, -1, 0), end.AddDate(0, 1, 0)
	if Outlives(s.Certificate(), &before) || !Outlives(s.Certificate(), &after) || !Outlives(s.Certificate(), nil) {
		t.Errorf("Outlives: %v before, %v after, %v without expiry", Outlives(s.Certificate(), &before),
			Outlives(s.Certificate(), &after), Outlives(s.Certificate(), nil))
	}
}

func throwawayCA(t *testing.T, country string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: serial(), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign}
	tmpl.Subject.Country = []string{country}
	tmpl.Subject.CommonName = "TEST throwaway CA"
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k
}

func throwawayDS(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, country string, usage x509.KeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: serial(), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0), KeyUsage: usage}
	tmpl.Subject.Country = []string{country}
	tmpl.Subject.CommonName = "TEST throwaway DS"
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, k.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k
}
