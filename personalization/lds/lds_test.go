package lds

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eqHex(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %X\nwant %X", what, got, want)
	}
}

func TestTLVLengthsUseShortestForm(t *testing.T) {
	for _, c := range []struct {
		n    int
		head string
	}{{0, "04 00"}, {127, "04 7F"}, {128, "04 81 80"}, {255, "04 81 FF"}, {256, "04 82 01 00"}, {65535, "04 82 FF FF"}, {65536, "04 83 01 00 00"}} {
		got := TLV(0x04, make([]byte, c.n))
		eqHex(t, "header", got[:len(got)-c.n], unhex(t, c.head))
		o, rest, err := Parse(got)
		if err != nil || len(rest) != 0 || len(o.Value) != c.n || o.Tag != 0x04 {
			t.Errorf("round trip %d: %v", c.n, err)
		}
	}
	eqHex(t, "two-byte tag", TLV(0x5F1F, []byte{1}), unhex(t, "5F1F 01 01"))
	eqHex(t, "constructed two-byte tag", TLV(0x7F61, nil), unhex(t, "7F61 00"))
}

func TestTLVRefusesMalformedInput(t *testing.T) {
	for _, in := range []string{"", "61", "61 05 01", "61 80", "61 84 00 00 00 01 00", "61 82 01", "5F", "5F 9F 9F 9F 01 00", "7F"} {
		b := unhex(t, in)
		if _, _, err := Parse(b); !errors.Is(err, ErrTLV) {
			t.Errorf("Parse(%s) = %v, want ErrTLV", in, err)
		}
	}
}

func TestCOMListsTheDataGroups(t *testing.T) {
	got := EncodeCOM([]Tag{TagDG1, TagDG2, TagDG13, TagDG15})
	eqHex(t, "EF.COM", got, unhex(t, "60 16  5F01 04 30313037  5F36 06 303430303030  5C 04 61756D6F"))
	c, err := DecodeCOM(got)
	if err != nil || c.LDSVersion != "0107" || c.UnicodeVersion != "040000" || len(c.Tags) != 4 || c.Tags[2] != TagDG13 {
		t.Errorf("DecodeCOM = %+v, %v", c, err)
	}
}

func testDG13() DG13 {
	return DG13{
		PersonalID: "001050000123", FullName: "Lê Đình Đức", DateOfBirth: "1950", Sex: "Nam",
		Nationality: "Việt Nam", Ethnicity: "Kinh", Religion: "Phật giáo", PlaceOfOrigin: "Hà Nội",
		PlaceOfResidence: "Hà Nội", IdentifyingMarks: "Nốt ruồi", IssueDate: "20/11/2026",
		ExpiryDate: NoExpiry, FatherName: "Lê Khải", MotherName: "Mận",
	}
}

// DG13 bytes exactly as chip-data.md §5 lays them out, computed by hand.
func TestDG13ExactBytes(t *testing.T) {
	d := DG13{
		PersonalID: "1", FullName: "A", DateOfBirth: "2", Sex: "Nữ", Nationality: "B", Ethnicity: "C",
		Religion: "D", PlaceOfOrigin: "E", PlaceOfResidence: "F", IdentifyingMarks: "G", IssueDate: "3",
		ExpiryDate: "H", FatherName: "I", MotherName: "J",
	}
	got, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `
6D 81 87
 30 81 84
  02 01 01
  06 06 28D316010008
  31 77
   30 06 020101 13 01 31
   30 06 020102 0C 01 41
   30 06 020103 13 01 32
   30 09 020104 0C 04 4EE1BBAF
   30 06 020105 0C 01 42
   30 06 020106 0C 01 43
   30 06 020107 0C 01 44
   30 06 020108 0C 01 45
   30 06 020109 0C 01 46
   30 06 02010A 0C 01 47
   30 06 02010B 13 01 33
   30 06 02010C 0C 01 48
   30 0D 02010D 30 03 0C 01 49 30 03 0C 01 4A
   30 03 02010E`)
	eqHex(t, "DG13", got, want)

	d.SpouseName, d.OldIDNumber = "K", "123456789"
	got, _ = d.Encode()
	if !bytes.Contains(got, unhex(t, "30 06 02010E 0C 01 4B 30 0E 02010F 13 09 313233343536373839")) {
		t.Errorf("spouse and old ID not encoded as fields 14 and 15: %X", got)
	}
}

func TestDG13RoundTripWithLongAddresses(t *testing.T) {
	d := testDG13()
	d.PlaceOfResidence = strings.Repeat("Số 8, Ngõ 32, Phố Hàng Bạc, ", 10) // > 255 bytes: 82 lengths
	d.SpouseName, d.OldIDNumber = "Vũ Thị Hoa", "011234567"
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if b[1] != 0x82 {
		t.Errorf("DG13 of %d bytes does not use a two-byte length: %X", len(b), b[:4])
	}
	back, err := DecodeDG13(b)
	if err != nil {
		t.Fatal(err)
	}
	if back != d {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, d)
	}
	d.SpouseName, d.OldIDNumber = "", ""
	b, _ = d.Encode()
	back, err = DecodeDG13(b)
	if err != nil || back != d {
		t.Errorf("round trip without spouse: %v %+v", err, back)
	}
}

func TestDG13RefusesWhatItsTypesCannotHold(t *testing.T) {
	d := testDG13()
	d.IssueDate = "20/11/2026 ✓"
	if _, err := d.Encode(); err == nil {
		t.Error("PrintableString field accepted a non-printable character")
	}
	d = testDG13()
	d.Religion = ""
	if _, err := d.Encode(); err == nil {
		t.Error("empty field accepted")
	}
}

// testPKI makes a CSCA and a DS certificate with the given DS key.
func testPKI(t testing.TB, dsKey crypto.Signer, country string) (csca, ds *x509.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Country: []string{country}, CommonName: "TEST CSCA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	csca, _ = x509.ParseCertificate(caDER)
	dsTmpl := &x509.Certificate{SerialNumber: big.NewInt(0x1234567), Subject: pkix.Name{Country: []string{country}, CommonName: "TEST DS"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature}
	dsDER, err := x509.CreateCertificate(rand.Reader, dsTmpl, csca, dsKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ds, _ = x509.ParseCertificate(dsDER)
	return csca, ds
}

func testFiles() map[int][]byte {
	return map[int][]byte{1: []byte("dg1 bytes"), 2: []byte("dg2 bytes"), 13: []byte("dg13"), 15: []byte("dg15")}
}

func hashesOf(files map[int][]byte) map[int][]byte {
	h := map[int][]byte{}
	for n, b := range files {
		h[n] = HashDG(b)
	}
	return h
}

func TestSODSignsAndVerifiesForEveryKeyType(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa2k, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, key := range map[string]crypto.Signer{"ECDSA P-256": p256, "ECDSA P-384": p384, "RSASSA-PSS": rsa2k} {
		t.Run(name, func(t *testing.T) {
			csca, ds := testPKI(t, key, "VN")
			files := testFiles()
			when := time.Now().UTC().Truncate(time.Second)
			sod, err := EncodeSOD(hashesOf(files), key, ds, SignOptions{SigningTime: when})
			if err != nil {
				t.Fatal(err)
			}
			s, err := DecodeSOD(sod)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.VerifySignature(); err != nil {
				t.Fatalf("VerifySignature: %v", err)
			}
			if err := s.VerifySigner([]*x509.Certificate{csca}, time.Now(), "VNM"); err != nil {
				t.Fatalf("VerifySigner: %v", err)
			}
			if err := s.CheckHashes(files); err != nil {
				t.Fatalf("CheckHashes: %v", err)
			}
			if !s.SigningTime.Equal(when) || s.LDSSecurityObjectVersion != 0 || s.HashAlgorithm != crypto.SHA256 || len(s.Hashes) != 4 {
				t.Errorf("decoded %+v", s)
			}
		})
	}
}

// The SOD is read back by an independent CMS implementation, which finds
// the same content, signer and a valid signature.
func TestSODReadByIndependentCMSLibrary(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csca, ds := testPKI(t, key, "VN")
	sod, err := EncodeSOD(hashesOf(testFiles()), key, ds, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o, _ := ParseOne(sod, TagSOD)
	p7, err := pkcs7.Parse(o.Value)
	if err != nil {
		t.Fatalf("pkcs7.Parse: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(csca)
	if err := p7.Verify(); err != nil {
		t.Fatalf("pkcs7 Verify: %v", err)
	}
	lso, _ := EncodeLDSSecurityObject(hashesOf(testFiles()))
	eqHex(t, "content", p7.Content, lso)
	if signer := p7.GetOnlySigner(); signer == nil || !signer.Equal(ds) {
		t.Error("pkcs7 found another signer")
	}
}

func TestSODDetectsTampering(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csca, ds := testPKI(t, key, "VN")
	files := testFiles()
	sod, _ := EncodeSOD(hashesOf(files), key, ds, SignOptions{})

	// A data group changed after signing.
	s, _ := DecodeSOD(sod)
	files[2] = []byte("dg2 bytes, altered")
	if err := s.CheckHashes(files); !errors.Is(err, ErrSODHashMismatch) {
		t.Errorf("altered DG2: %v", err)
	}
	if err := s.CheckHashes(map[int][]byte{3: []byte("x")}); !errors.Is(err, ErrSODHashMismatch) {
		t.Errorf("unlisted DG3: %v", err)
	}

	// A hash inside the signed content flipped: the messageDigest no longer matches.
	lso, _ := EncodeLDSSecurityObject(hashesOf(testFiles()))
	i := bytes.Index(sod, lso)
	bad := append([]byte(nil), sod...)
	bad[i+len(lso)-1] ^= 1
	if s, err := DecodeSOD(bad); err == nil {
		if err := s.VerifySignature(); !errors.Is(err, ErrSODSignature) {
			t.Errorf("altered content: %v", err)
		}
	}

	// The signature flipped.
	bad = append([]byte(nil), sod...)
	bad[len(bad)-5] ^= 1
	if s, err := DecodeSOD(bad); err == nil {
		if err := s.VerifySignature(); !errors.Is(err, ErrSODSignature) {
			t.Errorf("altered signature: %v", err)
		}
	}

	// Another CSCA, another country, a time outside validity.
	other, _ := testPKI(t, key, "VN")
	s, _ = DecodeSOD(sod)
	if err := s.VerifySigner([]*x509.Certificate{other}, time.Now(), "VNM"); !errors.Is(err, ErrSODSignerNotTrusted) {
		t.Errorf("unknown CSCA: %v", err)
	}
	if err := s.VerifySigner([]*x509.Certificate{csca}, time.Now(), "UTO"); !errors.Is(err, ErrSODSignerNotTrusted) {
		t.Errorf("wrong issuing state: %v", err)
	}
	if err := s.VerifySigner([]*x509.Certificate{csca}, time.Now().AddDate(2, 0, 0), "VNM"); !errors.Is(err, ErrSODSignerNotTrusted) {
		t.Errorf("expired DS: %v", err)
	}
}

func TestSODRefusesAKeyThatIsNotTheCertificates(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ds := testPKI(t, key, "VN")
	if _, err := EncodeSOD(hashesOf(testFiles()), other, ds, SignOptions{}); err == nil {
		t.Error("signed with a key that does not match the DS certificate")
	}
}

func BenchmarkEncodeSODP256(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ds := testPKI(b, key, "VN")
	h := hashesOf(testFiles())
	for b.Loop() {
		if _, err := EncodeSOD(h, key, ds, SignOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
