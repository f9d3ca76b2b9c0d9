package lds

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ErrSecurityInfos is wrapped by every error decoding EF.CardAccess or DG14.
var ErrSecurityInfos = errors.New("lds: malformed SecurityInfos")

// Protocol object identifiers of ICAO 9303-11 §9.2 and BSI TR-03110-3
// Appendix A.
var (
	// id-PACE: PACEInfo protocols are id-PACE.<mapping>.<cipher> (§9.2.1).
	OIDPACE = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4}
	// id-PACE-ECDH-GM-AES-CBC-CMAC-128: what CCCD chips offer.
	OIDPACEECDHGMAES128 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 2, 2}
	// id-PACE-ECDH-GM-AES-CBC-CMAC-192 and -256.
	OIDPACEECDHGMAES192 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 2, 3}
	OIDPACEECDHGMAES256 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 4, 2, 4}
	// id-CA: ChipAuthenticationInfo protocols are id-CA.<DH|ECDH>.<cipher>
	// (§9.2.5).
	OIDCA = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3}
	// id-CA-ECDH-3DES-CBC-CBC.
	OIDCAECDH3DES = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2, 1}
	// id-CA-ECDH-AES-CBC-CMAC-128: what CCCD chips offer.
	OIDCAECDHAES128 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2, 2}
	// id-PK-DH and id-PK-ECDH: ChipAuthenticationPublicKeyInfo (§9.2.6).
	OIDPKDH   = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 1, 1}
	OIDPKECDH = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 1, 2}
	// id-TA: TerminalAuthenticationInfo (§9.2.7).
	OIDTA = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 2}
	// id-AA: ActiveAuthenticationInfo (§9.2.8).
	OIDAA = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 5}
	// ecdsa-plain-SHA256 (BSI TR-03111 §5.2.1): the signature algorithm of
	// ECDSA Active Authentication in the cccd profile.
	OIDECDSAPlainSHA256 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 3}
)

// SecurityInfo is one element of SecurityInfos (ICAO 9303-11 §9.2):
// SEQUENCE { protocol OBJECT IDENTIFIER, requiredData ANY, optionalData ANY
// OPTIONAL }. The concrete types are PACEInfo, ChipAuthenticationInfo,
// ChipAuthenticationPublicKeyInfo, TerminalAuthenticationInfo,
// ActiveAuthenticationInfo and RawSecurityInfo (any other protocol).
type SecurityInfo interface {
	// ProtocolOID is the protocol the info describes.
	ProtocolOID() asn1.ObjectIdentifier
	marshal() ([]byte, error)
}

// PACEInfo (ICAO 9303-11 §9.2.1): a PACE protocol the chip supports.
// Version is 2; ParameterID names standardized domain parameters (§9.5.1,
// Table 6: 12 = NIST P-256, 13 = brainpoolP256r1), nil when absent.
type PACEInfo struct {
	Protocol    asn1.ObjectIdentifier
	Version     int
	ParameterID *int
}

// ChipAuthenticationInfo (ICAO 9303-11 §9.2.5): a Chip Authentication
// protocol; KeyID nil when the chip has one key.
type ChipAuthenticationInfo struct {
	Protocol asn1.ObjectIdentifier
	Version  int
	KeyID    *int
}

// ChipAuthenticationPublicKeyInfo (ICAO 9303-11 §9.2.6): the chip's static
// Chip Authentication key (protocol id-PK-ECDH; EC keys only here: a DH key
// decodes as a RawSecurityInfo) as a SubjectPublicKeyInfo.
type ChipAuthenticationPublicKeyInfo struct {
	Protocol  asn1.ObjectIdentifier
	PublicKey *ecdsa.PublicKey
	KeyID     *int
}

// TerminalAuthenticationInfo (ICAO 9303-11 §9.2.7; BSI TR-03110-3 A.1.1.3):
// id-TA, version 1 or 2; EFCVCA is the DER of the optional FileID (nil when
// absent).
type TerminalAuthenticationInfo struct {
	Version int
	EFCVCA  []byte
}

// ActiveAuthenticationInfo (ICAO 9303-11 §9.2.8): id-AA, version 1, and the
// signature algorithm of ECDSA Active Authentication.
type ActiveAuthenticationInfo struct {
	Version            int
	SignatureAlgorithm asn1.ObjectIdentifier
}

// RawSecurityInfo is a SecurityInfo of a protocol this package does not
// interpret, kept as its DER (the whole SEQUENCE) and re-encoded as it was.
type RawSecurityInfo struct {
	Protocol asn1.ObjectIdentifier
	DER      []byte
}

func (i PACEInfo) ProtocolOID() asn1.ObjectIdentifier                        { return i.Protocol }
func (i ChipAuthenticationInfo) ProtocolOID() asn1.ObjectIdentifier          { return i.Protocol }
func (i ChipAuthenticationPublicKeyInfo) ProtocolOID() asn1.ObjectIdentifier { return i.Protocol }
func (TerminalAuthenticationInfo) ProtocolOID() asn1.ObjectIdentifier        { return OIDTA }
func (ActiveAuthenticationInfo) ProtocolOID() asn1.ObjectIdentifier          { return OIDAA }
func (i RawSecurityInfo) ProtocolOID() asn1.ObjectIdentifier                 { return i.Protocol }

// Int returns a pointer to n, for the optional integers of SecurityInfos.
func Int(n int) *int { return &n }

// sequence builds SEQUENCE { protocol, fields }.
func sequence(oid asn1.ObjectIdentifier, fields func(b *cryptobyte.Builder)) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		fields(b)
	})
	return b.Bytes()
}

func addOptionalInt(b *cryptobyte.Builder, n *int) {
	if n != nil {
		b.AddASN1Int64(int64(*n))
	}
}

func (i PACEInfo) marshal() ([]byte, error) {
	if !isUnder(i.Protocol, OIDPACE, 2) {
		return nil, fmt.Errorf("lds: PACEInfo protocol %v is not id-PACE-*", i.Protocol)
	}
	return sequence(i.Protocol, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(int64(i.Version))
		addOptionalInt(b, i.ParameterID)
	})
}

func (i ChipAuthenticationInfo) marshal() ([]byte, error) {
	if !isUnder(i.Protocol, OIDCA, 2) {
		return nil, fmt.Errorf("lds: ChipAuthenticationInfo protocol %v is not id-CA-*", i.Protocol)
	}
	return sequence(i.Protocol, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(int64(i.Version))
		addOptionalInt(b, i.KeyID)
	})
}

func (i ChipAuthenticationPublicKeyInfo) marshal() ([]byte, error) {
	if !i.Protocol.Equal(OIDPKECDH) {
		return nil, fmt.Errorf("lds: ChipAuthenticationPublicKeyInfo protocol %v is not id-PK-ECDH", i.Protocol)
	}
	spki, err := MarshalECPublicKeyInfo(i.PublicKey)
	if err != nil {
		return nil, err
	}
	return sequence(i.Protocol, func(b *cryptobyte.Builder) {
		b.AddBytes(spki)
		addOptionalInt(b, i.KeyID)
	})
}

func (i TerminalAuthenticationInfo) marshal() ([]byte, error) {
	return sequence(OIDTA, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(int64(i.Version))
		b.AddBytes(i.EFCVCA)
	})
}

func (i ActiveAuthenticationInfo) marshal() ([]byte, error) {
	return sequence(OIDAA, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(int64(i.Version))
		b.AddASN1ObjectIdentifier(i.SignatureAlgorithm)
	})
}

func (i RawSecurityInfo) marshal() ([]byte, error) { return bytes.Clone(i.DER), nil }

// isUnder reports whether oid is parent followed by exactly extra arcs.
func isUnder(oid, parent asn1.ObjectIdentifier, extra int) bool {
	return len(oid) == len(parent)+extra && slices.Equal(oid[:len(parent)], parent)
}

// SecurityInfos is the content of EF.CardAccess and DG14 (ICAO 9303-11
// §9.2: SET OF SecurityInfo), in the order decoded or given.
type SecurityInfos []SecurityInfo

// PACE returns the PACEInfos.
func (s SecurityInfos) PACE() []PACEInfo { return infosOf[PACEInfo](s) }

// ChipAuthentication returns the ChipAuthenticationInfos.
func (s SecurityInfos) ChipAuthentication() []ChipAuthenticationInfo {
	return infosOf[ChipAuthenticationInfo](s)
}

// ChipAuthenticationPublicKeys returns the ChipAuthenticationPublicKeyInfos.
func (s SecurityInfos) ChipAuthenticationPublicKeys() []ChipAuthenticationPublicKeyInfo {
	return infosOf[ChipAuthenticationPublicKeyInfo](s)
}

// TerminalAuthentication returns the TerminalAuthenticationInfos.
func (s SecurityInfos) TerminalAuthentication() []TerminalAuthenticationInfo {
	return infosOf[TerminalAuthenticationInfo](s)
}

// ActiveAuthentication returns the ActiveAuthenticationInfos.
func (s SecurityInfos) ActiveAuthentication() []ActiveAuthenticationInfo {
	return infosOf[ActiveAuthenticationInfo](s)
}

func infosOf[T SecurityInfo](s SecurityInfos) []T {
	var out []T
	for _, i := range s {
		if t, ok := i.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// MarshalSet encodes the SET OF SecurityInfo in DER: the elements sorted as
// octet strings (X.690 §11.6) — for the three infos of a real CCCD card
// that is TerminalAuthenticationInfo, ChipAuthenticationInfo, PACEInfo.
func (s SecurityInfos) MarshalSet() ([]byte, error) {
	elems := make([][]byte, 0, len(s))
	for _, i := range s {
		der, err := i.marshal()
		if err != nil {
			return nil, err
		}
		elems = append(elems, der)
	}
	slices.SortFunc(elems, bytes.Compare)
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
		for _, e := range elems {
			b.AddBytes(e)
		}
	})
	return b.Bytes()
}

// EncodeCardAccess builds EF.CardAccess (ICAO 9303-10 §3.11.3, 9303-11
// §9.2.3): the DER SecurityInfos, 31 L { … }.
func EncodeCardAccess(s SecurityInfos) ([]byte, error) {
	b, err := s.MarshalSet()
	if err != nil {
		return nil, fmt.Errorf("EF.CardAccess: %w", err)
	}
	return b, nil
}

// EncodeDG14 builds DG14 (ICAO 9303-10 §4.7.14): 6E L { SecurityInfos }.
func EncodeDG14(s SecurityInfos) ([]byte, error) {
	b, err := s.MarshalSet()
	if err != nil {
		return nil, fmt.Errorf("DG14: %w", err)
	}
	return TLV(TagDG14, b), nil
}

// DecodeCardAccess reads EF.CardAccess: exactly one DER SET OF SecurityInfo.
func DecodeCardAccess(b []byte) (SecurityInfos, error) {
	s, err := ParseSecurityInfos(b)
	if err != nil {
		return nil, fmt.Errorf("EF.CardAccess: %w", err)
	}
	return s, nil
}

// DecodeDG14 reads DG14: 6E { SET OF SecurityInfo }, nothing after.
func DecodeDG14(b []byte) (SecurityInfos, error) {
	o, err := ParseOne(b, TagDG14)
	if err != nil {
		return nil, fmt.Errorf("DG14: %w", err)
	}
	s, err := ParseSecurityInfos(o.Value)
	if err != nil {
		return nil, fmt.Errorf("DG14: %w", err)
	}
	return s, nil
}

// ParseSecurityInfos decodes a DER SET OF SecurityInfo (ICAO 9303-11
// §9.2). Lengths and integers must be DER (minimal); the order of the SET's
// elements is not checked, since readers do not check it. An info of a
// protocol this package knows must have exactly its structure; one of any
// other protocol is kept as a RawSecurityInfo.
func ParseSecurityInfos(b []byte) (SecurityInfos, error) {
	in := cryptobyte.String(b)
	var set cryptobyte.String
	if !in.ReadASN1(&set, cbasn1.SET) || !in.Empty() {
		return nil, fmt.Errorf("%w: not one SET", ErrSecurityInfos)
	}
	var out SecurityInfos
	for !set.Empty() {
		var elem cryptobyte.String
		if !set.ReadASN1Element(&elem, cbasn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: element %d is not a SEQUENCE", ErrSecurityInfos, len(out)+1)
		}
		info, err := parseSecurityInfo(elem)
		if err != nil {
			return nil, fmt.Errorf("%w: element %d: %w", ErrSecurityInfos, len(out)+1, err)
		}
		out = append(out, info)
	}
	return out, nil
}

func parseSecurityInfo(elem cryptobyte.String) (SecurityInfo, error) {
	raw := bytes.Clone(elem)
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !elem.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) {
		return nil, errors.New("no protocol OID")
	}
	if seq.Empty() {
		return nil, fmt.Errorf("protocol %v without requiredData", oid)
	}
	switch {
	case isUnder(oid, OIDPACE, 2):
		v, opt, err := readVersionAndOptionalInt(&seq)
		if err != nil {
			return nil, fmt.Errorf("PACEInfo: %w", err)
		}
		return PACEInfo{Protocol: oid, Version: v, ParameterID: opt}, nil
	case isUnder(oid, OIDCA, 2):
		v, opt, err := readVersionAndOptionalInt(&seq)
		if err != nil {
			return nil, fmt.Errorf("ChipAuthenticationInfo: %w", err)
		}
		return ChipAuthenticationInfo{Protocol: oid, Version: v, KeyID: opt}, nil
	case oid.Equal(OIDPKECDH):
		var spki cryptobyte.String
		if !seq.ReadASN1Element(&spki, cbasn1.SEQUENCE) {
			return nil, errors.New("ChipAuthenticationPublicKeyInfo: no SubjectPublicKeyInfo")
		}
		pub, err := ParseECPublicKeyInfo(spki)
		if err != nil {
			return nil, fmt.Errorf("ChipAuthenticationPublicKeyInfo: %w", err)
		}
		keyID, err := readOptionalInt(&seq)
		if err != nil {
			return nil, fmt.Errorf("ChipAuthenticationPublicKeyInfo: %w", err)
		}
		return ChipAuthenticationPublicKeyInfo{Protocol: oid, PublicKey: pub, KeyID: keyID}, nil
	case oid.Equal(OIDTA):
		var v int64
		if !seq.ReadASN1Integer(&v) || v < 0 || v > 255 {
			return nil, errors.New("TerminalAuthenticationInfo: no version")
		}
		info := TerminalAuthenticationInfo{Version: int(v)}
		if !seq.Empty() {
			var fid cryptobyte.String
			if !seq.ReadASN1Element(&fid, cbasn1.SEQUENCE) || !seq.Empty() {
				return nil, errors.New("TerminalAuthenticationInfo: malformed efCVCA")
			}
			info.EFCVCA = bytes.Clone(fid)
		}
		return info, nil
	case oid.Equal(OIDAA):
		var v int64
		var alg asn1.ObjectIdentifier
		if !seq.ReadASN1Integer(&v) || v < 0 || v > 255 || !seq.ReadASN1ObjectIdentifier(&alg) || !seq.Empty() {
			return nil, errors.New("malformed ActiveAuthenticationInfo")
		}
		return ActiveAuthenticationInfo{Version: int(v), SignatureAlgorithm: alg}, nil
	}
	return RawSecurityInfo{Protocol: oid, DER: raw}, nil
}

// readVersionAndOptionalInt reads version INTEGER and an optional INTEGER,
// and nothing after.
func readVersionAndOptionalInt(s *cryptobyte.String) (int, *int, error) {
	var v int64
	if !s.ReadASN1Integer(&v) || v < 0 || v > 255 {
		return 0, nil, errors.New("no version")
	}
	opt, err := readOptionalInt(s)
	return int(v), opt, err
}

// readOptionalInt reads an optional non-negative INTEGER and requires the
// end of the SEQUENCE after it.
func readOptionalInt(s *cryptobyte.String) (*int, error) {
	if s.Empty() {
		return nil, nil
	}
	var n int64
	if !s.ReadASN1Integer(&n) || n < 0 || n > 1<<31-1 {
		return nil, errors.New("malformed optional INTEGER")
	}
	if !s.Empty() {
		return nil, errors.New("unexpected data after the last field")
	}
	return Int(int(n)), nil
}

// ErrCardAccessNotInDG14: an info of EF.CardAccess is not repeated in DG14.
var ErrCardAccessNotInDG14 = errors.New("lds: EF.CardAccess is not repeated in DG14")

// CardAccessInDG14 checks that every SecurityInfo of EF.CardAccess appears
// in DG14 byte for byte (ICAO 9303-11 §9.2.5: DG14 repeats them, so that
// passive authentication covers what the chip announced unprotected).
func CardAccessInDG14(cardAccess, dg14 []byte) error {
	ca, err := rawElements(cardAccess)
	if err != nil {
		return fmt.Errorf("EF.CardAccess: %w", err)
	}
	o, err := ParseOne(dg14, TagDG14)
	if err != nil {
		return fmt.Errorf("DG14: %w", err)
	}
	in14, err := rawElements(o.Value)
	if err != nil {
		return fmt.Errorf("DG14: %w", err)
	}
	for i, e := range ca {
		if !slices.ContainsFunc(in14, func(d []byte) bool { return bytes.Equal(d, e) }) {
			return fmt.Errorf("%w: element %d (%X)", ErrCardAccessNotInDG14, i+1, e)
		}
	}
	return nil
}

// rawElements returns the DER of each element of a SET OF SecurityInfo.
func rawElements(b []byte) ([][]byte, error) {
	in := cryptobyte.String(b)
	var set cryptobyte.String
	if !in.ReadASN1(&set, cbasn1.SET) || !in.Empty() {
		return nil, fmt.Errorf("%w: not one SET", ErrSecurityInfos)
	}
	var out [][]byte
	for !set.Empty() {
		var e cryptobyte.String
		if !set.ReadASN1Element(&e, cbasn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: element %d is not a SEQUENCE", ErrSecurityInfos, len(out)+1)
		}
		out = append(out, e)
	}
	return out, nil
}
