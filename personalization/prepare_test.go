package personalization

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/biometrics"
	"github.com/cccd-station/station/personalization/lds"
	"github.com/cccd-station/station/personalization/pki"
	"github.com/cccd-station/station/personalization/signer"
)

var testNow = func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, application.Vietnam) }

// newTestPKI writes a TEST PKI with `stationctl pki init`'s code and opens
// its file signer.
func newTestPKI(t testing.TB) (*pki.PKI, signer.Signer) {
	t.Helper()
	dir := t.TempDir()
	if err := pki.Init(pki.Options{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	p, err := pki.Load(dir)
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

func loadSamples(t testing.TB) map[string]*application.Application {
	t.Helper()
	files, _ := filepath.Glob("../testdata/samples/*.json")
	if len(files) == 0 {
		t.Fatal("no samples in ../testdata/samples")
	}
	out := map[string]*application.Application{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		a, err := application.Parse(b, application.Rules{Now: testNow})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out[filepath.Base(f)] = a
	}
	return out
}

// Every sample application encodes, and its chip image decodes back to the
// same values; the SOD verifies with the CSCA as trust anchor.
func TestEverySampleEncodesAndDecodesBack(t *testing.T) {
	p, s := newTestPKI(t)
	for name, a := range loadSamples(t) {
		t.Run(name, func(t *testing.T) {
			im, err := Prepare(a, PrepareOptions{Signer: s, DSCert: s.Certificate(), AAKeyBits: 1024})
			if err != nil {
				t.Fatal(err)
			}
			names := []string{}
			for _, f := range im.Files {
				names = append(names, f.Name)
			}
			want := []string{"DG1", "DG2", "DG13", "DG15", "EF.COM", "EF.SOD"}
			if len(names) != len(want) {
				t.Fatalf("files %v, want %v", names, want)
			}
			for i := range want {
				if names[i] != want[i] {
					t.Fatalf("files %v, want %v (EF.SOD last)", names, want)
				}
			}

			com, _ := im.File(lds.FIDCOM)
			c, err := lds.DecodeCOM(com)
			if err != nil || len(c.Tags) != 4 {
				t.Fatalf("EF.COM %+v %v", c, err)
			}

			dg1, _ := im.File(lds.FIDDG1)
			m, err := lds.DecodeDG1(dg1)
			if err != nil {
				t.Fatal(err)
			}
			idCheck, _ := lds.CheckDigit(a.PersonalID)
			if m.DocumentNumber != a.DocumentNumber() || m.OptionalData1 != a.PersonalID+"<<"+string(idCheck) || m != im.MRZ {
				t.Errorf("MRZ %+v", m)
			}
			if m.DateOfBirth != lds.MRZDate(a.DateOfBirth) || m.Sex != byte(a.Sex) {
				t.Errorf("MRZ dob %s sex %c", m.DateOfBirth, m.Sex)
			}

			dg13, _ := im.File(lds.FIDDG13)
			d, err := lds.DecodeDG13(dg13)
			if err != nil {
				t.Fatal(err)
			}
			if d.PersonalID != a.PersonalID || d.FullName != a.FullName || d.PlaceOfResidence != a.PlaceOfResidence ||
				d.FatherName != a.FatherName || d.MotherName != a.MotherName || d.SpouseName != a.SpouseName ||
				d.OldIDNumber != a.OldIDNumber || d.DateOfBirth != lds.FormatDG13Date(a.DateOfBirth) {
				t.Errorf("DG13 %+v", d)
			}
			if (a.ExpiryDate == nil) != (d.ExpiryDate == lds.NoExpiry) {
				t.Errorf("DG13 expiry %q for expiry %v", d.ExpiryDate, a.ExpiryDate)
			}

			dg2, _ := im.File(lds.FIDDG2)
			content, err := lds.UnwrapDG(dg2, lds.TagDG2)
			if err != nil {
				t.Fatal(err)
			}
			faces, err := biometrics.DecodeDG2(content)
			if err != nil || len(faces) != 1 {
				t.Fatalf("DG2: %d faces, %v", len(faces), err)
			}
			if len(dg2) > 20000+200 {
				t.Errorf("DG2 is %d bytes: the face does not fit the 20,000-byte budget", len(dg2))
			}

			dg3content, err := lds.UnwrapDG(im.DG3, lds.TagDG3)
			if err != nil {
				t.Fatal(err)
			}
			fingers, err := biometrics.DecodeDG3(dg3content)
			if err != nil || len(fingers) != len(a.Fingerprints) {
				t.Fatalf("DG3: %d fingers, %v", len(fingers), err)
			}

			dg15, _ := im.File(lds.FIDDG15)
			pub, err := lds.DecodeDG15(dg15)
			if err != nil || !pub.(*rsa.PublicKey).Equal(&im.AAKey.PublicKey) || im.AAKey.N.BitLen() != 1024 {
				t.Fatalf("DG15 does not hold the AA key: %v", err)
			}

			sodBytes, _ := im.File(lds.FIDSOD)
			sod, err := lds.DecodeSOD(sodBytes)
			if err != nil {
				t.Fatal(err)
			}
			if err := sod.VerifySignature(); err != nil {
				t.Fatal(err)
			}
			if err := sod.VerifySigner(p.CSCAs, time.Now(), m.IssuingState); err != nil {
				t.Fatal(err)
			}
			files := map[int][]byte{1: dg1, 2: dg2, 13: dg13, 15: dg15}
			if err := sod.CheckHashes(files); err != nil {
				t.Fatal(err)
			}
			if len(sod.Hashes) != 4 {
				t.Errorf("SOD hashes %d data groups, 4 on the chip", len(sod.Hashes))
			}
		})
	}
}

// The sample of chip-data.md §2, exactly.
func TestSampleMRZMatchesTheSpecification(t *testing.T) {
	_, s := newTestPKI(t)
	a := loadSamples(t)["nguyen-van-an.json"]
	im, err := Prepare(a, PrepareOptions{Signer: s, DSCert: s.Certificate(), AAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := im.MRZ.Lines()
	want := [3]string{"IDVNM2030012345082203001234<<1", "0305141M4305149VNM<<<<<<<<<<<8", "NGUYEN<<VAN<AN<<<<<<<<<<<<<<<<"}
	if l != want {
		t.Errorf("MRZ\n got %v\nwant %v", l, want)
	}
	if got := im.MRZ.Information(); got != "203001234503051414305149" {
		t.Errorf("MRZ_information %s", got)
	}
}

func TestPrepareRejectsAFaceThatCannotFitTheBudget(t *testing.T) {
	_, s := newTestPKI(t)
	a := loadSamples(t)["nguyen-van-an.json"]
	_, err := Prepare(a, PrepareOptions{Signer: s, DSCert: s.Certificate(), ContentOptions: ContentOptions{FaceBudget: 2000}, AAKeyBits: 1024})
	var re *RejectError
	if !errors.As(err, &re) || re.Field != "face_image" || !errors.Is(err, biometrics.ErrFaceOverBudget) {
		t.Fatalf("want a face_image rejection, got %v", err)
	}
}

func TestPrepareWithoutSignerIsAStationErrorNotARejection(t *testing.T) {
	a := loadSamples(t)["nguyen-van-an.json"]
	_, err := Prepare(a, PrepareOptions{})
	var re *RejectError
	if err == nil || errors.As(err, &re) {
		t.Fatalf("missing signer: %v", err)
	}
}

func TestPrepareCanWriteDG3(t *testing.T) {
	_, s := newTestPKI(t)
	a := loadSamples(t)["nguyen-van-an.json"]
	im, err := Prepare(a, PrepareOptions{Signer: s, DSCert: s.Certificate(), AAKeyBits: 1024, WriteDG3: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := im.File(lds.FIDDG3); !ok || im.DG3 != nil {
		t.Fatal("DG3 not among the files")
	}
	sodBytes, _ := im.File(lds.FIDSOD)
	sod, _ := lds.DecodeSOD(sodBytes)
	if _, ok := sod.Hashes[3]; !ok {
		t.Error("DG3 on the chip but not hashed in EF.SOD")
	}
}

// What is stored between preparation and the claim is the content, in its
// own explicit, versioned form; neither it nor an image (which holds a
// station-made private key) is ever JSON, and both print redacted.
func TestContentStoredFormKeepsEverythingAndNothingElseMarshalsIt(t *testing.T) {
	_, s := newTestPKI(t)
	a := loadSamples(t)["le-dinh-duc.json"]
	c, err := PrepareContent(a, ContentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := lds.DecodeContent(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b) // the decoded content must not alias the stored form
	if back.MRZ != c.MRZ || back.CAN != c.CAN || !bytes.Equal(back.DG3, c.DG3) || len(back.Files) != len(c.Files) {
		t.Fatal("content changed through its stored form")
	}
	for i, f := range c.Files {
		if back.Files[i].FID != f.FID || !bytes.Equal(back.Files[i].Data, f.Data) {
			t.Fatalf("file %s changed through the stored form", f.Name)
		}
	}
	// A stored form of another version, truncated, or of another kind, is
	// refused.
	good, _ := c.Encode()
	for name, bad := range map[string][]byte{
		"version 2": append(append([]byte("LDSCNT"), 2), good[7:]...),
		"truncated": good[:len(good)-3],
		"not one":   []byte(`{"files":[]}`),
	} {
		if _, err := lds.DecodeContent(bad); !errors.Is(err, lds.ErrContentEncoding) {
			t.Errorf("%s: DecodeContent = %v, want ErrContentEncoding", name, err)
		}
	}

	// Nothing writes a key or personal data by accident: json.Marshal of an
	// image, a content or any value holding one fails, and every fmt verb
	// prints them redacted.
	im, err := Prepare(a, PrepareOptions{Signer: s, DSCert: s.Certificate(), AAKeyBits: 1024})
	if err != nil {
		t.Fatal(err)
	}
	d := im.AAKey.D.String()
	holder := struct {
		Image   *lds.Image
		Content *lds.Content
	}{im, c}
	for _, v := range []any{im, *im, c, *c, holder, []*lds.Image{im}} {
		if out, err := json.Marshal(v); err == nil || strings.Contains(string(out), d) {
			t.Errorf("json.Marshal(%T) = %d bytes, %v; want an error", v, len(out), err)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, im) + fmt.Sprintf(verb, *im) + fmt.Sprintf(verb, holder) + fmt.Sprintf(verb, c)
		if strings.Contains(out, d) || strings.Contains(out, im.CAN) || strings.Contains(out, "LE<<DINH") {
			t.Errorf("%s prints the AA key, the CAN or the MRZ: %s", verb, out)
		}
	}
	im.WipeAAKey()
	if im.AAKey != nil {
		t.Error("WipeAAKey")
	}
}

func BenchmarkPrepareLDSAndSOD(b *testing.B) {
	// LDS + SOD with an ECDSA P-256 file key, the face already prepared and
	// the AA key already generated: the per-application work besides those.
	_, s := newTestPKI(b)
	a := loadSamples(b)["nguyen-van-an.json"]
	im, err := Prepare(a, PrepareOptions{Signer: s, DSCert: s.Certificate(), AAKeyBits: 1024})
	if err != nil {
		b.Fatal(err)
	}
	dg2, _ := im.File(lds.FIDDG2)
	dg15, _ := im.File(lds.FIDDG15)
	for b.Loop() {
		m, err := lds.NewMRZ(a, lds.MRZConventions{})
		if err != nil {
			b.Fatal(err)
		}
		dg1, _ := lds.EncodeDG1(m)
		d13, _ := lds.NewDG13(a)
		dg13, _ := d13.Encode()
		com := lds.EncodeCOM([]lds.Tag{lds.TagDG1, lds.TagDG2, lds.TagDG13, lds.TagDG15})
		_ = com
		h := map[int][]byte{1: lds.HashDG(dg1), 2: lds.HashDG(dg2), 13: lds.HashDG(dg13), 15: lds.HashDG(dg15)}
		if _, err := lds.EncodeSOD(h, s, s.Certificate(), lds.SignOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAAKeyRSA2048(b *testing.B) {
	for b.Loop() {
		if _, err := rsa.GenerateKey(rand.Reader, 2048); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrepareWholeImage(b *testing.B) {
	_, s := newTestPKI(b)
	a := loadSamples(b)["nguyen-van-an.json"]
	for b.Loop() {
		if _, err := Prepare(a, PrepareOptions{Signer: s, DSCert: s.Certificate()}); err != nil {
			b.Fatal(err)
		}
	}
}
