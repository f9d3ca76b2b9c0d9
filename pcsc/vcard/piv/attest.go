package piv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// Yubico's PIV attestation extensions
// (https://developers.yubico.com/PIV/Introduction/PIV_attestation.html).
// piv-go reads a key's PIN policy from them on firmware before 5.3.
var (
	oidFirmware  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 3}
	oidSerial    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 7}
	oidKeyPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 41482, 3, 8}
)

// makeAttestationCA creates the token's attestation key (slot F9) and its
// self-signed certificate, readable as object 5FFF01.
func (t *Token) makeAttestationCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(int64(t.serial)),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("Virtual PIV Attestation %d", t.serial)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(20, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return err
	}
	if t.attCA, err = x509.ParseCertificate(der); err != nil {
		return err
	}
	t.attKey = key
	// SP 800-73-4 Part 1 Appendix A: certificate containers are
	// 70 { cert } 71 { CertInfo 00 } FE { }.
	t.objects[objAttestation] = append(append(encodeTLV(0x70, der), encodeTLV(0x71, []byte{0})...), encodeTLV(0xfe, nil)...)
	return nil
}

// attest answers the YubiKey ATTEST command (00 F9 <slot> 00): a
// certificate for the slot's public key, signed by the attestation key, whose
// extensions carry the firmware version, serial and PIN/touch policies.
// An empty slot answers 6A80, as a YubiKey does.
func (t *Token) attest(ref byte) ([]byte, uint16) {
	k := t.keys[ref]
	if k == nil {
		return nil, swWrongData
	}
	serial, err := asn1.Marshal(int64(t.serial))
	if err != nil {
		return nil, swConditions
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, swConditions
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: fmt.Sprintf("YubiKey PIV Attestation %02x", ref)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     t.attCA.NotAfter,
		ExtraExtensions: []pkix.Extension{
			{Id: oidFirmware, Value: t.version[:]},
			{Id: oidSerial, Value: serial},
			{Id: oidKeyPolicy, Value: []byte{k.pinPolicy, k.touchPolicy}},
		},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, t.attCA, k.priv.Public(), t.attKey)
	if err != nil {
		return nil, swConditions
	}
	return der, sw9000
}
