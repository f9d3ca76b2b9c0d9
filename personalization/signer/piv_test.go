package signer_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebfe/scard"
	"github.com/go-piv/piv-go/v2/piv"

	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
	vpiv "github.com/cccd-station/station/pcsc/vcard/piv"
	"github.com/cccd-station/station/pcsc/vcard/vcardtest"
	"github.com/cccd-station/station/personalization/signer"
)

// The PIV backend against the virtual PIV token (pcsc/vcard/piv) in vpcd
// readers of a real, isolated pcscd (pcsc/pcscdtest). The stack is started
// once for the package by TestMain; tests that do not call plug run whether
// or not it could start.

func TestMain(m *testing.M) { pcscdtest.Main(m, 2) }

// plug puts card into reader i of the shared stack (skipping the test when
// the PC/SC stack is not installed and CI is unset).
func plug(tb testing.TB, i int, card vcard.Card) *vcard.Slot {
	tb.Helper()
	st := pcscdtest.Require(tb)
	slot, err := vcard.Plug(context.Background(), st.Addr(i), card)
	if err != nil {
		tb.Fatalf("plugging the token into reader %d: %v", i, err)
	}
	return slot
}

// countingCard counts the APDUs the token receives, and the VERIFY commands
// that carry a PIN (an empty VERIFY only reads the retry counter).
type countingCard struct {
	vcard.Card
	mu              sync.Mutex
	apdus, verifies int
}

func (c *countingCard) Process(cmd []byte) ([]byte, error) {
	c.mu.Lock()
	c.apdus++
	if len(cmd) > 5 && cmd[1] == 0x20 && cmd[4] > 0 {
		c.verifies++
	}
	c.mu.Unlock()
	return c.Card.Process(cmd)
}

func (c *countingCard) counts() (apdus, verifies int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.apdus, c.verifies
}

// probeSerial finds the reader holding the PIV token with the serial through
// a shared connection (SELECT, GET SERIAL). piv-go's Open is only called on
// that reader: on a failed SELECT it leaks an exclusive connection.
func probeSerial(serial uint32) (string, error) {
	c, err := scard.EstablishContext()
	if err != nil {
		return "", err
	}
	defer c.Release()
	readers, err := c.ListReaders()
	if err != nil {
		return "", err
	}
	want := append(binary.BigEndian.AppendUint32(nil, serial), 0x90, 0x00)
	for _, r := range readers {
		card, err := c.Connect(r, scard.ShareShared, scard.ProtocolT1)
		if err != nil {
			continue
		}
		sel, err1 := card.Transmit([]byte{0, 0xa4, 4, 0, 5, 0xa0, 0, 0, 3, 8})
		sn, err2 := card.Transmit([]byte{0, 0xf8, 0, 0, 0})
		card.Disconnect(scard.LeaveCard)
		if err1 == nil && err2 == nil && bytes.HasSuffix(sel, []byte{0x90, 0}) && bytes.Equal(sn, want) {
			return r, nil
		}
	}
	return "", fmt.Errorf("no reader holds PIV token %d (readers %q)", serial, readers)
}

// waitToken waits until pcscd shows the token.
func waitToken(t testing.TB, serial uint32) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := probeSerial(serial)
		if err == nil {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("token %d not visible through pcscd: %v", serial, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// provision generates a P-256 DS key in slot 9C (PIN policy once) with
// piv-go through pcscd and stores its DS certificate in the slot unless
// storeCert is false. It returns the certificate.
func provision(t testing.TB, serial uint32, storeCert bool) *x509.Certificate {
	t.Helper()
	yk, err := piv.Open(waitToken(t, serial))
	if err != nil {
		t.Fatalf("piv-go Open: %v", err)
	}
	defer yk.Close()
	pub, err := yk.GenerateKey(piv.DefaultManagementKey, piv.SlotSignature,
		piv.Key{Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyOnce, TouchPolicy: piv.TouchPolicyNever})
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	cert := dsCertificate(t, pub)
	if storeCert {
		if err := yk.SetCertificate(piv.DefaultManagementKey, piv.SlotSignature, cert); err != nil {
			t.Fatalf("SetCertificate: %v", err)
		}
	}
	return cert
}

func dsCertificate(t testing.TB, pub any) *x509.Certificate {
	t.Helper()
	ca, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "TEST CSCA", Country: []string{"VN"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "TEST DS", Country: []string{"VN"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, pub, ca)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func pinFile(t testing.TB, pin string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(p, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func certFile(t testing.TB, cert *x509.Certificate) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ds.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func openPIV(t testing.TB, cfg signer.Config) signer.Signer {
	t.Helper()
	cfg.Backend = "piv"
	s, err := signer.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(piv, serial %d): %v", cfg.Serial, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func digest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

func mustSignAndVerify(t testing.TB, s signer.Signer, what string) {
	t.Helper()
	d := digest(what)
	sig, err := s.Sign(rand.Reader, d, nil)
	if err != nil {
		t.Fatalf("Sign(%s): %v", what, err)
	}
	if !ecdsa.VerifyASN1(s.Certificate().PublicKey.(*ecdsa.PublicKey), d, sig) {
		t.Fatalf("Sign(%s): signature %X does not verify against the DS certificate", what, sig)
	}
}

func TestPIVBackendSignsAndSignatureVerifiesAgainstCertificate(t *testing.T) {
	tok := vpiv.New(vpiv.WithSerial(41000001))
	defer plug(t, 0, tok).Remove()
	cert := provision(t, 41000001, true)

	s := openPIV(t, signer.Config{Serial: 41000001, PINFile: pinFile(t, vpiv.DefaultPIN)})
	if s.Backend() != "piv" {
		t.Fatalf("Backend = %q, want piv", s.Backend())
	}
	if !s.Certificate().Equal(cert) {
		t.Fatalf("Certificate differs from the slot's:\n got %X\nwant %X", s.Certificate().Raw, cert.Raw)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	for i := range 3 {
		mustSignAndVerify(t, s, fmt.Sprintf("EF.SOD %d", i))
	}
}

func TestPIVBackendDefaultSerialTakesTheOnlyToken(t *testing.T) {
	tok := vpiv.New(vpiv.WithSerial(41000002))
	defer plug(t, 0, tok).Remove()
	provision(t, 41000002, true)
	s := openPIV(t, signer.Config{Slot: "9C", PINFile: pinFile(t, vpiv.DefaultPIN)})
	mustSignAndVerify(t, s, "only token")
}

func TestPIVBackendCertFileMustHoldTheSlotKey(t *testing.T) {
	tok := vpiv.New(vpiv.WithSerial(41000003))
	defer plug(t, 0, tok).Remove()
	cert := provision(t, 41000003, false)
	pin := pinFile(t, vpiv.DefaultPIN)

	_, err := signer.Open(context.Background(), signer.Config{Backend: "piv", Serial: 41000003, PINFile: pin})
	if !errors.Is(err, signer.ErrNoKey) {
		t.Fatalf("Open without certificate in the slot or cert_file: %v, want ErrNoKey", err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err = signer.Open(context.Background(), signer.Config{Backend: "piv", Serial: 41000003, PINFile: pin, CertFile: certFile(t, dsCertificate(t, other.Public()))})
	if !errors.Is(err, signer.ErrNoKey) {
		t.Fatalf("Open with a cert_file for another key: %v, want ErrNoKey", err)
	}
	s := openPIV(t, signer.Config{Serial: 41000003, PINFile: pin, CertFile: certFile(t, cert)})
	mustSignAndVerify(t, s, "cert file")
}

func TestPIVBackendStopsAtFirstWrongPIN(t *testing.T) {
	tok := vpiv.New(vpiv.WithSerial(41000004), vpiv.WithPIN("97531864"), vpiv.WithPINRetries(3))
	card := &countingCard{Card: tok}
	defer plug(t, 0, card).Remove()
	yk, err := piv.Open(waitToken(t, 41000004))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := yk.GenerateKey(piv.DefaultManagementKey, piv.SlotSignature,
		piv.Key{Algorithm: piv.AlgorithmEC256, PINPolicy: piv.PINPolicyAlways, TouchPolicy: piv.TouchPolicyNever}); err != nil {
		t.Fatal(err)
	}
	yk.Close()
	const wrongPIN = "13572468"
	s := openPIV(t, signer.Config{Serial: 41000004, PINFile: pinFile(t, wrongPIN), CertFile: certFile(t, dsCertificateForSlot(t, 41000004))})

	_, verifiesBefore := card.counts()
	_, err = s.Sign(rand.Reader, digest("first"), nil)
	if !errors.Is(err, signer.ErrWrongPIN) {
		t.Fatalf("Sign with a wrong PIN: %v, want ErrWrongPIN", err)
	}
	if strings.Contains(err.Error(), wrongPIN) || !strings.Contains(err.Error(), "2 retries") {
		t.Fatalf("error %q: must say 2 retries are left and must not contain the PIN", err)
	}
	apdus, verifies := card.counts()
	if verifies-verifiesBefore != 1 {
		t.Fatalf("%d VERIFY commands with a PIN, want exactly 1", verifies-verifiesBefore)
	}
	if n := tok.PINRetries(); n != 2 {
		t.Fatalf("token retry counter = %d, want 2 (one try spent)", n)
	}

	for _, op := range []struct {
		name string
		do   func() error
	}{
		{"second Sign", func() error { _, err := s.Sign(rand.Reader, digest("second"), nil); return err }},
		{"Check", func() error { return s.Check(context.Background()) }},
	} {
		if err := op.do(); !errors.Is(err, signer.ErrWrongPIN) {
			t.Fatalf("%s after a wrong PIN: %v, want ErrWrongPIN", op.name, err)
		}
	}
	if a, v := card.counts(); a != apdus || v != verifies {
		t.Fatalf("after the latch the token got %d more APDUs (%d VERIFY), want none", a-apdus, v-verifies)
	}
	if n := tok.PINRetries(); n != 2 {
		t.Fatalf("token retry counter = %d after the latch, want still 2", n)
	}
}

// dsCertificateForSlot reads the slot's public key (ATTEST) and makes a DS
// certificate for it.
func dsCertificateForSlot(t testing.TB, serial uint32) *x509.Certificate {
	t.Helper()
	yk, err := piv.Open(waitToken(t, serial))
	if err != nil {
		t.Fatal(err)
	}
	defer yk.Close()
	att, err := yk.Attest(piv.SlotSignature)
	if err != nil {
		t.Fatal(err)
	}
	return dsCertificate(t, att.PublicKey)
}

func TestPIVBackendBlockedPIN(t *testing.T) {
	t.Run("blocked before Open", func(t *testing.T) {
		tok := vpiv.New(vpiv.WithSerial(41000005), vpiv.WithPINRetries(1))
		defer plug(t, 0, tok).Remove()
		provision(t, 41000005, true)
		yk, err := piv.Open(waitToken(t, 41000005))
		if err != nil {
			t.Fatal(err)
		}
		_ = yk.VerifyPIN("00000000")
		yk.Close()
		_, err = signer.Open(context.Background(), signer.Config{Backend: "piv", Serial: 41000005, PINFile: pinFile(t, vpiv.DefaultPIN)})
		if !errors.Is(err, signer.ErrPINBlocked) {
			t.Fatalf("Open with the PIN blocked: %v, want ErrPINBlocked", err)
		}
	})
	t.Run("blocked by the last try", func(t *testing.T) {
		tok := vpiv.New(vpiv.WithSerial(41000006), vpiv.WithPINRetries(1))
		defer plug(t, 0, tok).Remove()
		provision(t, 41000006, true)
		s := openPIV(t, signer.Config{Serial: 41000006, PINFile: pinFile(t, "00000000")})
		_, err := s.Sign(rand.Reader, digest("x"), nil)
		if !errors.Is(err, signer.ErrPINBlocked) {
			t.Fatalf("Sign spending the last try: %v, want ErrPINBlocked", err)
		}
	})
}

func TestPIVBackendTokenPulledAndPluggedBack(t *testing.T) {
	tok := vpiv.New(vpiv.WithSerial(41000007))
	slot := plug(t, 1, tok)
	provision(t, 41000007, true)
	s := openPIV(t, signer.Config{Serial: 41000007, PINFile: pinFile(t, vpiv.DefaultPIN)})
	mustSignAndVerify(t, s, "before")

	slot.Remove()
	if _, err := s.Sign(rand.Reader, digest("pulled"), nil); !errors.Is(err, signer.ErrTokenAbsent) {
		t.Fatalf("Sign with the token pulled: %v, want ErrTokenAbsent", err)
	}
	for i := range 3 {
		if err := s.Check(context.Background()); !errors.Is(err, signer.ErrTokenAbsent) {
			t.Fatalf("Check %d with the token pulled: %v, want ErrTokenAbsent", i, err)
		}
		if _, err := s.Sign(rand.Reader, digest("pulled"), nil); !errors.Is(err, signer.ErrTokenAbsent) {
			t.Fatalf("Sign %d with the token pulled: %v, want ErrTokenAbsent", i, err)
		}
	}

	defer plug(t, 1, tok).Remove()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Check(context.Background())
		if err == nil {
			break
		}
		if !errors.Is(err, signer.ErrTokenAbsent) || time.Now().After(deadline) {
			t.Fatalf("Check after plugging the token back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mustSignAndVerify(t, s, "after")
}

func TestPIVBackendChoosesTokenBySerial(t *testing.T) {
	a, b := vpiv.New(vpiv.WithSerial(41000008)), vpiv.New(vpiv.WithSerial(41000009))
	defer plug(t, 0, a).Remove()
	defer plug(t, 1, b).Remove()
	provision(t, 41000008, true)
	certB := provision(t, 41000009, true)
	pin := pinFile(t, vpiv.DefaultPIN)

	s := openPIV(t, signer.Config{Serial: 41000009, PINFile: pin})
	if !s.Certificate().Equal(certB) {
		t.Fatal("serial 41000009 chose the other token's certificate")
	}
	mustSignAndVerify(t, s, "token B")
	s.Close()

	_, err := signer.Open(context.Background(), signer.Config{Backend: "piv", PINFile: pin})
	if err == nil || errors.Is(err, signer.ErrTokenAbsent) || !strings.Contains(err.Error(), "41000008") || !strings.Contains(err.Error(), "41000009") {
		t.Fatalf("Open without serial with two tokens: %v, want an error naming both serials", err)
	}
	_, err = signer.Open(context.Background(), signer.Config{Backend: "piv", Serial: 41000010, PINFile: pin})
	if !errors.Is(err, signer.ErrTokenAbsent) {
		t.Fatalf("Open with an absent serial: %v, want ErrTokenAbsent", err)
	}
}

func TestPIVBackendCheckAndSignConcurrently(t *testing.T) {
	tok := vpiv.New(vpiv.WithSerial(41000011))
	defer plug(t, 0, tok).Remove()
	provision(t, 41000011, true)
	s := openPIV(t, signer.Config{Serial: 41000011, PINFile: pinFile(t, vpiv.DefaultPIN)})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				var err error
				if g%2 == 0 {
					err = s.Check(context.Background())
				} else {
					d := digest(fmt.Sprint(g, i))
					var sig []byte
					if sig, err = s.Sign(rand.Reader, d, nil); err == nil && !ecdsa.VerifyASN1(s.Public().(*ecdsa.PublicKey), d, sig) {
						err = errors.New("signature does not verify")
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestPIVBackendNeverShowsThePIN(t *testing.T) {
	const pin = "86429753"
	tok := vpiv.New(vpiv.WithSerial(41000012), vpiv.WithPIN(pin))
	defer plug(t, 0, tok).Remove()
	provision(t, 41000012, true)
	s := openPIV(t, signer.Config{Serial: 41000012, PINFile: pinFile(t, pin)})
	var log bytes.Buffer
	slog.New(slog.NewJSONHandler(&log, nil)).Info("signer", "signer", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s), log.String()} {
		if strings.Contains(out, pin) {
			t.Fatalf("%q shows the PIN", out)
		}
	}
}

func TestPIVBackendRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]signer.Config{
		"unknown slot":  {Backend: "piv", Slot: "9b", PINEnv: "X"},
		"no PIN source": {Backend: "piv"},
	} {
		if _, err := signer.Open(context.Background(), cfg); err == nil {
			t.Errorf("%s: Open succeeded", name)
		}
	}
}

// BenchmarkPIVBackendSign: one DS signature through the backend (piv-go,
// pcscd, vpcd, the virtual token; ECDSA P-256, PIN policy once) including
// the check of the signature against the certificate.
func BenchmarkPIVBackendSign(b *testing.B) {
	tok := vpiv.New(vpiv.WithSerial(41000099))
	vcardtest.Plug(b, 0, tok) // once reader 0 is free: a test may have used it a moment ago
	provision(b, 41000099, true)
	s := openPIV(b, signer.Config{Serial: 41000099, PINFile: pinFile(b, vpiv.DefaultPIN)})
	d := digest("EF.SOD")
	for b.Loop() {
		if _, err := s.Sign(rand.Reader, d, nil); err != nil {
			b.Fatal(err)
		}
	}
}
