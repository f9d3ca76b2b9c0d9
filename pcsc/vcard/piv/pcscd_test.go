package piv_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ebfe/scard"
	pivgo "github.com/go-piv/piv-go/v2/piv"

	"github.com/cccd-station/station/pcsc/pcscdtest"
	"github.com/cccd-station/station/pcsc/vcard"
	"github.com/cccd-station/station/pcsc/vcard/piv"
	"github.com/cccd-station/station/pcsc/vcard/vcardtest"
)

// These tests drive the virtual token with piv-go through a real, isolated
// pcscd (pcsc/pcscdtest) and the vpcd bridge (vcard.Plug).

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

// openToken waits for the token with the serial to show up in pcscd and
// opens it with piv-go.
//
// Each reader is probed first through a shared connection (SELECT, GET
// SERIAL): piv-go v2.6.0's Open leaks its exclusive connection when its
// SELECT fails (a card swapped under pcscd's feet), which would lock the
// reader for the rest of the test binary.
func openToken(t testing.TB, serial uint32) *pivgo.YubiKey {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		reader, err := probeSerial(serial)
		if err != nil {
			last = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		yk, err := pivgo.Open(reader)
		if err != nil {
			t.Fatalf("piv-go Open(%q): %v", reader, err)
		}
		t.Cleanup(func() { yk.Close() })
		return yk
	}
	t.Fatalf("token %d not found through pcscd: %v", serial, last)
	return nil
}

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
	want := binary.BigEndian.AppendUint32(nil, serial)
	for _, r := range readers {
		card, err := c.Connect(r, scard.ShareShared, scard.ProtocolT1)
		if err != nil {
			continue
		}
		sel, err1 := card.Transmit([]byte{0, 0xa4, 4, 0, 5, 0xa0, 0, 0, 3, 8})
		sn, err2 := card.Transmit([]byte{0, 0xf8, 0, 0, 0})
		card.Disconnect(scard.LeaveCard)
		if err1 == nil && err2 == nil && bytes.HasSuffix(sel, []byte{0x90, 0}) && bytes.Equal(sn, append(want, 0x90, 0)) {
			return r, nil
		}
	}
	return "", fmt.Errorf("no reader holds PIV token %d (readers %q)", serial, readers)
}

func TestPIVGoOpensTokenAndReadsVersionAndSerial(t *testing.T) {
	tok := piv.New(piv.WithSerial(31000001))
	defer plug(t, 0, tok).Remove()
	yk := openToken(t, 31000001)
	if v := yk.Version(); v.Major != 5 || v.Minor != 2 {
		t.Fatalf("Version = %+v, want 5.2.x (no GET METADATA)", v)
	}
}

func TestPIVGoGeneratesSignsAndVerifies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		alg    pivgo.Algorithm
		digest []byte
	}{
		{"P-256", pivgo.AlgorithmEC256, func() []byte { d := sha256.Sum256([]byte("SOD")); return d[:] }()},
		{"P-384", pivgo.AlgorithmEC384, func() []byte { d := sha512.Sum384([]byte("SOD")); return d[:] }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := piv.New(piv.WithSerial(31000002))
			defer plug(t, 0, tok).Remove()
			yk := openToken(t, 31000002)
			pub, err := yk.GenerateKey(pivgo.DefaultManagementKey, pivgo.SlotSignature,
				pivgo.Key{Algorithm: tc.alg, PINPolicy: pivgo.PINPolicyAlways, TouchPolicy: pivgo.TouchPolicyNever})
			if err != nil {
				t.Fatalf("GenerateKey: %v", err)
			}
			priv, err := yk.PrivateKey(pivgo.SlotSignature, pub, pivgo.KeyAuth{PIN: piv.DefaultPIN})
			if err != nil {
				t.Fatalf("PrivateKey: %v", err)
			}
			for i := range 2 {
				sig, err := priv.(*pivgo.ECDSAPrivateKey).Sign(rand.Reader, tc.digest, nil)
				if err != nil {
					t.Fatalf("Sign %d: %v", i, err)
				}
				if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), tc.digest, sig) {
					t.Fatalf("signature %X does not verify with the generated key", sig)
				}
			}
		})
	}
}

func TestPIVGoWrongManagementKeyIsRefused(t *testing.T) {
	tok := piv.New(piv.WithSerial(31000003))
	defer plug(t, 0, tok).Remove()
	yk := openToken(t, 31000003)
	wrong := make([]byte, 24)
	_, err := yk.GenerateKey(wrong, pivgo.SlotSignature, pivgo.Key{Algorithm: pivgo.AlgorithmEC256, PINPolicy: pivgo.PINPolicyOnce, TouchPolicy: pivgo.TouchPolicyNever})
	if err == nil {
		t.Fatal("GenerateKey with a wrong management key succeeded")
	}
}

// dsCertificate is a certificate for pub signed by a throwaway CA, padded so
// that PUT DATA needs command chaining and GET DATA needs GET RESPONSE.
func dsCertificate(t testing.TB, pub any) *x509.Certificate {
	t.Helper()
	ca, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "TEST CSCA", Country: []string{"VN"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "TEST DS", Country: []string{"VN"},
		Organization: []string{strings.Repeat("TEST DOCUMENT SIGNER ", 20)}},
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

func TestPIVGoCertificateRoundTrip(t *testing.T) {
	tok := piv.New(piv.WithSerial(31000004))
	defer plug(t, 0, tok).Remove()
	yk := openToken(t, 31000004)
	if _, err := yk.Certificate(pivgo.SlotSignature); !errors.Is(err, pivgo.ErrNotFound) {
		t.Fatalf("Certificate of an empty slot: %v, want ErrNotFound", err)
	}
	pub, err := yk.GenerateKey(pivgo.DefaultManagementKey, pivgo.SlotSignature,
		pivgo.Key{Algorithm: pivgo.AlgorithmEC256, PINPolicy: pivgo.PINPolicyOnce, TouchPolicy: pivgo.TouchPolicyNever})
	if err != nil {
		t.Fatal(err)
	}
	cert := dsCertificate(t, pub)
	if len(cert.Raw) < 600 {
		t.Fatalf("test certificate of %d bytes does not exercise chaining", len(cert.Raw))
	}
	if err := yk.SetCertificate(pivgo.DefaultManagementKey, pivgo.SlotSignature, cert); err != nil {
		t.Fatalf("SetCertificate: %v", err)
	}
	got, err := yk.Certificate(pivgo.SlotSignature)
	if err != nil {
		t.Fatalf("Certificate: %v", err)
	}
	if !got.Equal(cert) {
		t.Fatalf("certificate read back differs:\n got %X\nwant %X", got.Raw, cert.Raw)
	}
}

func TestPIVGoAttestationVerifiesAndCarriesPINPolicy(t *testing.T) {
	tok := piv.New(piv.WithSerial(31000005))
	defer plug(t, 0, tok).Remove()
	yk := openToken(t, 31000005)
	if _, err := yk.Attest(pivgo.SlotSignature); !errors.Is(err, pivgo.ErrNotFound) {
		t.Fatalf("Attest of an empty slot: %v, want ErrNotFound", err)
	}
	pub, err := yk.GenerateKey(pivgo.DefaultManagementKey, pivgo.SlotSignature,
		pivgo.Key{Algorithm: pivgo.AlgorithmEC384, PINPolicy: pivgo.PINPolicyOnce, TouchPolicy: pivgo.TouchPolicyNever})
	if err != nil {
		t.Fatal(err)
	}
	slotCert, err := yk.Attest(pivgo.SlotSignature)
	if err != nil {
		t.Fatalf("Attest: %v", err)
	}
	ca, err := yk.AttestationCertificate()
	if err != nil {
		t.Fatalf("AttestationCertificate: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	a, err := (&pivgo.Verifier{Roots: roots}).Verify(ca, slotCert)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if a.Serial != 31000005 || a.PINPolicy != pivgo.PINPolicyOnce || a.Slot != pivgo.SlotSignature || !pub.(*ecdsa.PublicKey).Equal(slotCert.PublicKey) {
		t.Fatalf("attestation = %+v, want serial 31000005, PIN policy once, slot 9c and the generated key", a)
	}
}

func TestPIVGoWrongPINReportsRetriesThenBlocks(t *testing.T) {
	tok := piv.New(piv.WithSerial(31000006), piv.WithPIN("86420975"), piv.WithPINRetries(3))
	defer plug(t, 0, tok).Remove()
	yk := openToken(t, 31000006)
	for want := 2; want >= 0; want-- {
		err := yk.VerifyPIN("11111111")
		var auth pivgo.AuthErr
		if !errors.As(err, &auth) || auth.Retries != want {
			t.Fatalf("VerifyPIN(wrong) = %v, want AuthErr with %d retries", err, want)
		}
		if n, err := yk.Retries(); err != nil || n != want {
			t.Fatalf("Retries = %d, %v; want %d", n, err, want)
		}
	}
	err := yk.VerifyPIN("86420975")
	var auth pivgo.AuthErr
	if !errors.As(err, &auth) || auth.Retries != 0 || !strings.Contains(err.Error(), "blocked") {
		t.Fatalf("VerifyPIN(right) once blocked = %v, want AuthErr{0} (6983 blocked)", err)
	}
	if err := yk.Unblock(piv.DefaultPUK, "13572468"); err != nil {
		t.Fatalf("Unblock: %v", err)
	}
	if err := yk.VerifyPIN("13572468"); err != nil {
		t.Fatalf("VerifyPIN after Unblock: %v", err)
	}
}

// BenchmarkPIVSignThroughPCSCD measures one piv-go ECDSA P-256 signature
// (PIN policy once: an empty VERIFY and GENERAL AUTHENTICATE, two APDUs)
// through pcscd and the vpcd bridge.
func BenchmarkPIVSignThroughPCSCD(b *testing.B) {
	tok := piv.New(piv.WithSerial(31000099))
	vcardtest.Plug(b, 0, tok) // once reader 0 is free: a test may have used it a moment ago
	yk := openToken(b, 31000099)
	pub, err := yk.GenerateKey(pivgo.DefaultManagementKey, pivgo.SlotSignature,
		pivgo.Key{Algorithm: pivgo.AlgorithmEC256, PINPolicy: pivgo.PINPolicyOnce, TouchPolicy: pivgo.TouchPolicyNever})
	if err != nil {
		b.Fatal(err)
	}
	priv, err := yk.PrivateKey(pivgo.SlotSignature, pub, pivgo.KeyAuth{PIN: piv.DefaultPIN})
	if err != nil {
		b.Fatal(err)
	}
	signer := priv.(*pivgo.ECDSAPrivateKey)
	digest := sha256.Sum256([]byte("EF.SOD"))
	b.ResetTimer()
	for b.Loop() {
		if _, err := signer.Sign(rand.Reader, digest[:], nil); err != nil {
			b.Fatal(fmt.Errorf("Sign: %w", err))
		}
	}
}
