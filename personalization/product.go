package personalization

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/cccd-station/station/pcsc"
)

// KeySpec names a key a chip holds: its algorithm and its domain.
type KeySpec string

// The key specs a product may name.
const (
	KeyRSA1024              KeySpec = "rsa-1024"              // Active Authentication, ISO/IEC 9796-2 (made by the station)
	KeyRSA2048              KeySpec = "rsa-2048"              // Active Authentication, ISO/IEC 9796-2 (made by the station)
	KeyECDSAP256            KeySpec = "ecdsa-p256"            // Active Authentication, ECDSA (made by the chip)
	KeyECDSABrainpoolP256r1 KeySpec = "ecdsa-brainpoolp256r1" // Active Authentication, ECDSA (made by the chip)
	KeyECDHBrainpoolP256r1  KeySpec = "ecdh-brainpoolp256r1"  // Chip Authentication (made by the chip)
)

// RSABits is the modulus size of an RSA spec, 0 otherwise.
func (k KeySpec) RSABits() int {
	switch k {
	case KeyRSA1024:
		return 1024
	case KeyRSA2048:
		return 2048
	}
	return 0
}

// Product is one chip product the station can personalize, recognized by
// its ATR: the profile that personalizes it and what the chip can do — its
// APDU sizes, its keys, PACE, Chip Authentication, EAC, and the SCP03 key
// version of its personalization keys. A station may hold several card
// stocks at once: the product, and so the profile, is chosen per card.
type Product struct {
	Name string `yaml:"name" json:"name"`
	// Profile is the command script that personalizes it: "jmrtd" (the
	// default) or "cccd".
	Profile string `yaml:"profile,omitempty" json:"profile,omitempty"`
	// ATR, as hex; ATRMask (optional, same length) selects the bits compared.
	ATR     string `yaml:"atr" json:"atr"`
	ATRMask string `yaml:"atr_mask,omitempty" json:"atr_mask,omitempty"`
	// ExtendedLength: the chip takes extended Lc/Le (ISO/IEC 7816-4 §5.1).
	ExtendedLength bool `yaml:"extended_length" json:"extended_length"`
	// MaxCommandData and MaxResponseData are the largest data fields of one
	// command and one response (255/256 for short APDUs).
	MaxCommandData  int `yaml:"max_command_data" json:"max_command_data"`
	MaxResponseData int `yaml:"max_response_data" json:"max_response_data"`
	// AAKey is the Active Authentication key: RSA (rsa-1024, rsa-2048)
	// made by the station and injected (jmrtd), or ECDSA (ecdsa-p256,
	// ecdsa-brainpoolp256r1) made on the chip (cccd).
	AAKey KeySpec `yaml:"aa_key" json:"aa_key"`
	// CAKey is the Chip Authentication key made on the chip
	// (ecdh-brainpoolp256r1), "" without Chip Authentication.
	CAKey KeySpec `yaml:"ca_key,omitempty" json:"ca_key,omitempty"`
	// PACE: the chip offers PACE (generic mapping, ECDH brainpoolP256r1,
	// AES-128) with the CAN and the MRZ; BAC stays for older readers.
	PACE bool `yaml:"pace,omitempty" json:"pace,omitempty"`
	// EAC: DG3 behind Terminal Authentication (not built yet).
	EAC bool `yaml:"eac,omitempty" json:"eac,omitempty"`
	// SCP03KVN is the key version number of the chip's SCP03
	// personalization keys (cccd), e.g. 0x30.
	SCP03KVN int `yaml:"scp03_kvn,omitempty" json:"scp03_kvn,omitempty"`
}

// ProfileName is the product's profile, "jmrtd" when unset.
func (p Product) ProfileName() string {
	if p.Profile == "" {
		return "jmrtd"
	}
	return p.Profile
}

// Matches reports whether atr is this product's.
func (p Product) Matches(atr []byte) bool {
	want, err := hex.DecodeString(strings.ReplaceAll(p.ATR, " ", ""))
	if err != nil || len(want) != len(atr) {
		return false
	}
	mask := bytes.Repeat([]byte{0xFF}, len(want))
	if p.ATRMask != "" {
		m, err := hex.DecodeString(strings.ReplaceAll(p.ATRMask, " ", ""))
		if err != nil || len(m) != len(want) {
			return false
		}
		mask = m
	}
	for i := range want {
		if atr[i]&mask[i] != want[i]&mask[i] {
			return false
		}
	}
	return true
}

// Check refuses an inconsistent product definition, naming the field.
func (p Product) Check() error {
	if p.Name == "" {
		return errors.New("product: name is required")
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("product %s: %s", p.Name, fmt.Sprintf(format, a...))
	}
	if _, err := hex.DecodeString(strings.ReplaceAll(p.ATR, " ", "")); err != nil || p.ATR == "" {
		return bad("atr must be hex")
	}
	if p.MaxCommandData < 1 || (!p.ExtendedLength && p.MaxCommandData > pcsc.MaxShortNc) || p.MaxCommandData > pcsc.MaxExtendedNc {
		return bad("max_command_data %d out of range", p.MaxCommandData)
	}
	if p.MaxResponseData < 16 || (!p.ExtendedLength && p.MaxResponseData > pcsc.MaxShortNe) || p.MaxResponseData > pcsc.MaxExtendedNe {
		return bad("max_response_data %d out of range", p.MaxResponseData)
	}
	switch p.ProfileName() {
	case "jmrtd":
		if p.AAKey.RSABits() == 0 {
			return bad("aa_key must be rsa-1024 or rsa-2048 (the JMRTD applet takes a station-made RSA key)")
		}
		if p.CAKey != "" || p.PACE || p.EAC || p.SCP03KVN != 0 {
			return bad("the JMRTD applet offers BAC only: no ca_key, pace, eac or scp03_kvn")
		}
	case "cccd":
		if p.AAKey != KeyECDSAP256 && p.AAKey != KeyECDSABrainpoolP256r1 {
			return bad("aa_key must be ecdsa-p256 or ecdsa-brainpoolp256r1 (made on the chip)")
		}
		if p.CAKey != KeyECDHBrainpoolP256r1 {
			return bad("ca_key must be ecdh-brainpoolp256r1")
		}
		if !p.PACE {
			return bad("pace: a cccd chip offers PACE")
		}
		if p.EAC {
			return bad("eac: Terminal Authentication and DG3 are not built yet")
		}
		if p.SCP03KVN < 1 || p.SCP03KVN > 0x7F {
			return bad("scp03_kvn must be 1-127 (the key version of its SCP03 keys)")
		}
	default:
		return bad("profile must be jmrtd or cccd")
	}
	return nil
}

// VirtualProducts are the chip products of the project's virtual eMRTD chips
// (pcsc/vcard/emrtd models ext144, short80 and cccd), for tests and the
// demo. A production station lists its real card stock in its
// configuration.
var VirtualProducts = []Product{
	{Name: "vchip-ext144", ATR: "3B8B80018073C821C0564358313434AC", ExtendedLength: true,
		MaxCommandData: 2048, MaxResponseData: 2048, AAKey: KeyRSA2048},
	{Name: "vchip-short80", ATR: "3B8B80018073C82180564353303830EE", ExtendedLength: false,
		MaxCommandData: 255, MaxResponseData: 256, AAKey: KeyRSA1024},
	{Name: "vchip-cccd", Profile: "cccd", ATR: "3B8B80018073C821C0564343434431B0", ExtendedLength: true,
		MaxCommandData: 2048, MaxResponseData: 2048, AAKey: KeyECDSABrainpoolP256r1, CAKey: KeyECDHBrainpoolP256r1,
		PACE: true, SCP03KVN: 0x30},
}

// VirtualProductsOf are the virtual products of one profile.
func VirtualProductsOf(profile string) []Product {
	var out []Product
	for _, p := range VirtualProducts {
		if p.ProfileName() == profile {
			out = append(out, p)
		}
	}
	return out
}

// Stock is the card stock a station holds: the products it recognizes by
// ATR, and the profile of each.
type Stock struct {
	Products []Product
	profiles map[string]Profile
}

// NewStock checks the products and that each one's profile is among
// profiles. Without products, the stock is the virtual products of those
// profiles.
func NewStock(products []Product, profiles ...Profile) (*Stock, error) {
	s := &Stock{Products: products, profiles: map[string]Profile{}}
	for _, pr := range profiles {
		s.profiles[pr.Name()] = pr
		if len(products) == 0 {
			s.Products = append(s.Products, VirtualProductsOf(pr.Name())...)
		}
	}
	for _, p := range products {
		if err := p.Check(); err != nil {
			return nil, err
		}
		if s.profiles[p.ProfileName()] == nil {
			return nil, fmt.Errorf("product %s: profile %s is not available on this station", p.Name, p.ProfileName())
		}
	}
	return s, nil
}

// Identify finds the product by ATR, and its profile.
func (s *Stock) Identify(atr []byte) (Product, Profile, error) {
	for _, p := range s.Products {
		if p.Matches(atr) {
			return p, s.profiles[p.ProfileName()], nil
		}
	}
	return Product{}, nil, fmt.Errorf("%w: ATR %X", ErrUnknownChip, atr)
}

// Profile returns the profile of that name.
func (s *Stock) Profile(name string) (Profile, bool) {
	p, ok := s.profiles[name]
	return p, ok
}
