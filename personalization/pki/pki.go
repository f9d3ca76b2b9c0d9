// Package pki creates and loads the station's TEST signing PKI (ICAO Doc 9303
// Part 12): a self-signed Country Signing CA (C=VN) and a Document Signer
// certificate issued by it, with the DS key in a PEM file or generated inside
// a PKCS#11 token. A real CSCA never sits on a station; this one exists for
// development, tests and the demo, and every name in it says TEST.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/cccd-station/station/personalization/signer"
)

// File names inside a PKI directory.
const (
	CSCAFile       = "csca.pem"
	DSFile         = "ds.pem"
	DSKeyFile      = "ds-key.pem"
	SignerConfFile = "signer.json" // when the DS key lives in a token
	// SCP03File holds the TEST SCP03 master keys (file backend, 0600);
	// SCP03ConfFile says where they are when they live in a token.
	SCP03File     = "scp03-master.json"
	SCP03ConfFile = "scp03.json"
	// SCP03KVN is the key version of the TEST SCP03 master keys (that of
	// the virtual cccd chips' product).
	SCP03KVN = 0x30
)

// Options for Init.
type Options struct {
	Dir     string
	Now     time.Time // zero: now
	Station string    // a name for the DS certificate, e.g. the station id

	// DS key inside a PKCS#11 token instead of ds-key.pem.
	PKCS11Module string
	TokenLabel   string
	PIN          string // only used for this one login; never written
	KeyLabel     string // default "station-ds"
	// PINEnv/PINFile: where the station will read the PIN later; recorded
	// in signer.json (default PINEnv STATION_DS_PIN).
	PINEnv  string
	PINFile string

	Force bool // overwrite existing files

	// DSUsage is the DS key's usage period, written in the certificate's
	// privateKeyUsagePeriod (default 1 year; ICAO 9303-12 §5 suggests
	// months). DSValidity is the certificate's validity (default the usage
	// period plus 25 years: the longest CCCD validity, 22 years, with a
	// margin, so that every card it signs can be verified until it
	// expires). The CSCA outlives the DS by a year.
	DSUsage    time.Duration
	DSValidity time.Duration
}

// oidDocumentTypeList is the DS certificate extension listing the document
// types it may sign (ICAO 9303-12 §7.1.1.4).
var oidDocumentTypeList = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 6, 2}

// Init writes csca.pem, ds.pem and either ds-key.pem (mode 0600) or, with a
// PKCS#11 module, signer.json describing where the key is.
func Init(o Options) error {
	if o.Dir == "" {
		return errors.New("pki: a directory is required")
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	if o.Station == "" {
		o.Station = "station"
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	outputs := []string{CSCAFile, DSFile, DSKeyFile, SignerConfFile, SCP03File, SCP03ConfFile}
	if !o.Force {
		for _, f := range outputs {
			if _, err := os.Stat(filepath.Join(o.Dir, f)); err == nil {
				return fmt.Errorf("pki: %s already exists (use --force to replace the PKI)", filepath.Join(o.Dir, f))
			}
		}
	}
	for _, f := range outputs {
		os.Remove(filepath.Join(o.Dir, f))
	}

	// CSCA: ICAO 9303-12 Table 6 — basicConstraints CA, keyUsage
	// keyCertSign/cRLSign. P-384 for the longer-lived key.
	cscaKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: CSCA key: %w", err)
	}
	if o.DSUsage <= 0 {
		o.DSUsage = 365 * 24 * time.Hour
	}
	dsFrom := now.Add(-time.Hour)
	dsUntil := dsFrom.Add(o.DSUsage).AddDate(25, 0, 0)
	if o.DSValidity > 0 {
		dsUntil = dsFrom.Add(o.DSValidity)
	}
	usage, err := usagePeriodExtension(dsFrom, dsFrom.Add(o.DSUsage))
	if err != nil {
		return err
	}
	cscaTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{
			Country:      []string{"VN"},
			Organization: []string{"TEST Ministry of Public Security"},
			CommonName:   "TEST CSCA Viet Nam (not for issuance)",
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              maxTime(now.AddDate(15, 0, 0), dsUntil.AddDate(1, 0, 0)),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          keyID(&cscaKey.PublicKey),
	}
	cscaDER, err := x509.CreateCertificate(rand.Reader, cscaTmpl, cscaTmpl, &cscaKey.PublicKey, cscaKey)
	if err != nil {
		return fmt.Errorf("pki: CSCA certificate: %w", err)
	}
	csca, _ := x509.ParseCertificate(cscaDER)

	// DS key: a file, or inside the token.
	var dsKey crypto.Signer
	var conf *signer.Config
	if o.PKCS11Module != "" {
		if o.TokenLabel == "" {
			return errors.New("pki: --token-label is required with --pkcs11-module")
		}
		label := o.KeyLabel
		if label == "" {
			label = "station-ds"
		}
		ctx, err := signer.OpenPKCS11Token(o.PKCS11Module, o.TokenLabel, o.PIN)
		if err != nil {
			return err
		}
		defer ctx.Close()
		dsKey, err = signer.GeneratePKCS11Key(ctx, label, elliptic.P256())
		if err != nil {
			return err
		}
		conf = &signer.Config{Backend: "pkcs11", Module: o.PKCS11Module, TokenLabel: o.TokenLabel, KeyLabel: label,
			CertFile: DSFile, PINEnv: o.PINEnv, PINFile: o.PINFile}
		if conf.PINEnv == "" && conf.PINFile == "" {
			conf.PINEnv = "STATION_DS_PIN"
		}
		// The SCP03 master keys of the cccd profile, beside the DS key.
		if err := signer.GenerateSCP03PKCS11(ctx, "station-scp03", 16); err != nil {
			return err
		}
		scp := signer.SCP03Config{Backend: "pkcs11", Module: o.PKCS11Module, TokenLabel: o.TokenLabel,
			KeyLabel: "station-scp03", KVN: SCP03KVN, PINEnv: conf.PINEnv, PINFile: conf.PINFile}
		b, _ := json.MarshalIndent(scp, "", "  ")
		if err := os.WriteFile(filepath.Join(o.Dir, SCP03ConfFile), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
	} else {
		dsKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("pki: DS key: %w", err)
		}
		if err := signer.WriteSCP03File(filepath.Join(o.Dir, SCP03File), SCP03KVN, 16); err != nil {
			return fmt.Errorf("pki: %w", err)
		}
	}

	// DocumentTypeListSyntax ::= SEQUENCE { version INTEGER,
	//   docTypeList SET OF PrintableString }
	var dtl cryptobyte.Builder
	dtl.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.PrintableString, func(b *cryptobyte.Builder) { b.AddBytes([]byte("ID")) })
		})
	})
	docTypes, err := dtl.Bytes()
	if err != nil {
		return fmt.Errorf("pki: document type list: %w", err)
	}
	// DS: ICAO 9303-12 Table 6 — keyUsage digitalSignature, authority key
	// identifier, document type list; short validity.
	dsTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{
			Country:            []string{"VN"},
			Organization:       []string{"TEST Ministry of Public Security"},
			OrganizationalUnit: []string{"TEST Card Print Center"},
			CommonName:         "TEST Document Signer " + o.Station,
		},
		NotBefore:       dsFrom,
		NotAfter:        dsUntil,
		KeyUsage:        x509.KeyUsageDigitalSignature,
		AuthorityKeyId:  csca.SubjectKeyId,
		SubjectKeyId:    keyID(dsKey.Public()),
		ExtraExtensions: []pkix.Extension{{Id: oidDocumentTypeList, Value: docTypes}, usage},
	}
	dsDER, err := x509.CreateCertificate(rand.Reader, dsTmpl, csca, dsKey.Public(), cscaKey)
	if err != nil {
		return fmt.Errorf("pki: DS certificate: %w", err)
	}

	if err := writePEM(filepath.Join(o.Dir, CSCAFile), "CERTIFICATE", cscaDER, 0o644); err != nil {
		return err
	}
	if err := writePEM(filepath.Join(o.Dir, DSFile), "CERTIFICATE", dsDER, 0o644); err != nil {
		return err
	}
	if conf != nil {
		b, _ := json.MarshalIndent(conf, "", "  ")
		return os.WriteFile(filepath.Join(o.Dir, SignerConfFile), append(b, '\n'), 0o644)
	}
	der, err := x509.MarshalPKCS8PrivateKey(dsKey)
	if err != nil {
		return fmt.Errorf("pki: DS key: %w", err)
	}
	return writePEM(filepath.Join(o.Dir, DSKeyFile), "PRIVATE KEY", der, 0o600)
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n.Add(n, big.NewInt(1))
}

func keyID(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	h := sha1.Sum(der) // RFC 5280 §4.2.1.2 method (1) uses SHA-1 of the key
	return h[:]
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("pki: %s: %w", path, err)
	}
	return f.Close()
}

// PKI is a loaded PKI directory.
type PKI struct {
	Dir    string
	CSCAs  []*x509.Certificate
	Signer signer.Config // how to open the DS key
	// SCP03 says how to open the SCP03 master keys (cccd profile); Backend
	// is "" in a directory made before they existed.
	SCP03 signer.SCP03Config
}

// Load reads a directory written by Init (or laid out the same way by
// hand): the CSCA certificates (csca.pem may hold several) and the signer
// configuration (signer.json, or ds.pem + ds-key.pem).
func Load(dir string) (*PKI, error) {
	cscas, err := LoadCSCAs(filepath.Join(dir, CSCAFile))
	if err != nil {
		return nil, err
	}
	p := &PKI{Dir: dir, CSCAs: cscas}
	b, err := os.ReadFile(filepath.Join(dir, SignerConfFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &p.Signer); err != nil {
			return nil, fmt.Errorf("pki: %s: %w", SignerConfFile, err)
		}
		if p.Signer.CertFile != "" && !filepath.IsAbs(p.Signer.CertFile) {
			p.Signer.CertFile = filepath.Join(dir, p.Signer.CertFile)
		}
	case errors.Is(err, os.ErrNotExist):
		p.Signer = signer.Config{Backend: "file", KeyFile: filepath.Join(dir, DSKeyFile), CertFile: filepath.Join(dir, DSFile)}
	default:
		return nil, fmt.Errorf("pki: %w", err)
	}
	switch b, err := os.ReadFile(filepath.Join(dir, SCP03ConfFile)); {
	case err == nil:
		if err := json.Unmarshal(b, &p.SCP03); err != nil {
			return nil, fmt.Errorf("pki: %s: %w", SCP03ConfFile, err)
		}
	case errors.Is(err, os.ErrNotExist):
		if _, err := os.Stat(filepath.Join(dir, SCP03File)); err == nil {
			p.SCP03 = signer.SCP03Config{Backend: "file", File: filepath.Join(dir, SCP03File)}
		}
	default:
		return nil, fmt.Errorf("pki: %w", err)
	}
	return p, nil
}

// LoadCSCAs reads every certificate of a PEM file.
func LoadCSCAs(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: CSCA: %w", err)
	}
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: %s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("pki: %s holds no certificate", path)
	}
	return out, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// usagePeriodExtension encodes privateKeyUsagePeriod (RFC 5280 §4.2.1.4)
// with both bounds, as GeneralizedTime in UTC.
func usagePeriodExtension(from, until time.Time) (pkix.Extension, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddBytes([]byte(from.UTC().Format("20060102150405Z")))
		})
		b.AddASN1(cbasn1.Tag(1).ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddBytes([]byte(until.UTC().Format("20060102150405Z")))
		})
	})
	der, err := b.Bytes()
	if err != nil {
		return pkix.Extension{}, fmt.Errorf("pki: privateKeyUsagePeriod: %w", err)
	}
	return pkix.Extension{Id: oidPrivateKeyUsagePeriod, Value: der}, nil
}
