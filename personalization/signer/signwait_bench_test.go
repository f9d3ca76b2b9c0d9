package signer_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/internal/brainpool"
	"github.com/cccd-station/station/internal/softhsm"
	vpiv "github.com/cccd-station/station/pcsc/vcard/piv"
	"github.com/cccd-station/station/personalization"
	"github.com/cccd-station/station/personalization/ecka"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/personalization/signer"
)

// BenchmarkEFSODSignWait is the time a cccd card waits on its path for its
// security objects — DG14, DG15, EF.COM and EF.SOD signed (personalization.
// Finish, the engine's sign step) — with each Document Signer backend: a
// key file, PKCS#11 on SoftHSM2, and the virtual PIV token through pcscd.
func BenchmarkEFSODSignWait(b *testing.B) {
	raw, err := os.ReadFile("../../testdata/samples/nguyen-van-an.json")
	if err != nil {
		b.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) }
	app, err := application.Parse(raw, application.Rules{Now: now})
	if err != nil {
		b.Fatal(err)
	}
	content, err := personalization.PrepareContent(app, personalization.ContentOptions{})
	if err != nil {
		b.Fatal(err)
	}
	// The chip's public keys, as a cccd chip returns them.
	_, ca, _ := ecka.GenerateKey(brainpool.P256r1(), rand.Reader)
	_, aa, _ := ecka.GenerateKey(brainpool.P256r1(), rand.Reader)
	keys := personalization.ChipKeys{CA: ca, AA: aa}
	product := personalization.VirtualProductsOf("cccd")[0]
	cardAccess, dg14, err := personalization.SecurityObjects(product, keys)
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, s signer.Signer) {
		b.Helper()
		o := personalization.FinishOptions{AA: aa, CardAccess: cardAccess, DG14: dg14, Signer: s, DSCert: s.Certificate()}
		for b.Loop() {
			if _, err := personalization.Finish(content, o); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("file", func(b *testing.B) {
		dir := filepath.Join(b.TempDir(), "pki")
		if err := pki.Init(pki.Options{Dir: dir}); err != nil {
			b.Fatal(err)
		}
		p, _ := pki.Load(dir)
		s, err := signer.Open(context.Background(), p.Signer)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
	})
	b.Run("pkcs11", func(b *testing.B) {
		tok := softhsm.New(b, "bench")
		dir := filepath.Join(b.TempDir(), "pki")
		if err := pki.Init(pki.Options{Dir: dir, PKCS11Module: tok.Module, TokenLabel: tok.Label, PIN: tok.PIN}); err != nil {
			b.Fatal(err)
		}
		b.Setenv("STATION_DS_PIN", tok.PIN)
		p, _ := pki.Load(dir)
		s, err := signer.Open(context.Background(), p.Signer)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		run(b, s)
	})
	b.Run("piv", func(b *testing.B) {
		tok := vpiv.New(vpiv.WithSerial(41000099))
		defer plug(b, 1, tok).Remove()
		cert := provision(b, 41000099, true)
		s, err := signer.Open(context.Background(), signer.Config{Backend: "piv", Serial: 41000099, PINFile: pinFile(b, vpiv.DefaultPIN)})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if !s.Certificate().Equal(cert) {
			b.Fatal("not the provisioned certificate")
		}
		run(b, s)
	})
}
