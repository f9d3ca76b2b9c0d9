package lds

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// File is one elementary file of a chip image.
type File struct {
	FID  FID
	Name string // "EF.COM", "DG1", …
	Data []byte
}

// BACInputs are what a reader needs to open the chip with BAC (ICAO 9303-11
// §4.3): document number, date of birth and date of expiry as the MRZ holds
// them (YYMMDD, fillers where unknown).
type BACInputs struct {
	DocumentNumber string `json:"document_number"`
	DateOfBirth    string `json:"date_of_birth"`
	DateOfExpiry   string `json:"date_of_expiry"`
}

// LogValue hides the inputs: they open the chip and identify the citizen.
func (b BACInputs) LogValue() slog.Value { return slog.StringValue("BAC{redacted}") }

// Image is everything that goes onto one chip, prepared and signed before
// any card is touched.
type Image struct {
	// Files in write order; EF.SOD last (chip-data.md §1).
	Files []File
	// DG3 is prepared but only written once Terminal Authentication
	// protects it (chip-data.md §1).
	DG3 []byte
	// AAKey is the Active Authentication private key, kept only until it is
	// injected into the chip.
	AAKey *rsa.PrivateKey
	MRZ   MRZ
	CAN   string
}

// LogValue shows sizes only.
func (im Image) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(im.Files))
	for _, f := range im.Files {
		attrs = append(attrs, slog.Int(f.Name, len(f.Data)))
	}
	return slog.GroupValue(attrs...)
}

// File returns the file with that FID.
func (im *Image) File(fid FID) ([]byte, bool) {
	for _, f := range im.Files {
		if f.FID == fid {
			return f.Data, true
		}
	}
	return nil, false
}

// BAC returns the BAC inputs of the image's MRZ.
func (im *Image) BAC() BACInputs {
	return BACInputs{im.MRZ.DocumentNumber, im.MRZ.DateOfBirth, im.MRZ.DateOfExpiry}
}

// WipeAAKey forgets the Active Authentication private key once it is in the
// chip: the words of the key's big integers are overwritten and the key is
// dropped. (Copies the garbage collector made earlier cannot be reached.)
func (im *Image) WipeAAKey() {
	if im.AAKey == nil {
		return
	}
	zero := func(x *big.Int) {
		if x != nil {
			clear(x.Bits()) // overwrite the words, not only the length
			x.SetInt64(0)
		}
	}
	zero(im.AAKey.D)
	for _, p := range im.AAKey.Primes {
		zero(p)
	}
	zero(im.AAKey.Precomputed.Dp)
	zero(im.AAKey.Precomputed.Dq)
	zero(im.AAKey.Precomputed.Qinv)
	im.AAKey = nil
}

// The stored form of an Image (the queue keeps it encrypted between
// preparation and the claim): an explicit, versioned encoding written and
// read only by Encode and DecodeImage. An Image is deliberately not JSON
// (MarshalJSON fails) and prints redacted (Format, LogValue): it holds the
// Active Authentication private key, and a json.Marshal or a %v of any value
// that holds an image must not write that key out by accident.
//
//	"LDSIMG" 0x01                         magic and version
//	A0 { 80 FID(2)  81 name  82 data }    one per file, in write order
//	83 DG3                                (prepared, not written)
//	84 AA private key, PKCS #1 DER
//	85 MRZ (90 characters)
//	86 CAN
const (
	imageMagic   = "LDSIMG"
	imageVersion = 1
)

// ErrImageEncoding is wrapped by errors of the stored form.
var ErrImageEncoding = errors.New("lds: stored chip image")

// Encode writes the stored form of the image, AA private key included:
// callers keep it only encrypted and clear it after use.
func (im *Image) Encode() ([]byte, error) {
	mrz, err := im.MRZ.String()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrImageEncoding, err)
	}
	out := append([]byte(imageMagic), imageVersion)
	for _, f := range im.Files {
		out = append(out, TLV(0xA0, TLV(0x80, []byte{byte(f.FID >> 8), byte(f.FID)}), TLV(0x81, []byte(f.Name)), TLV(0x82, f.Data))...)
	}
	if im.DG3 != nil {
		out = append(out, TLV(0x83, im.DG3)...)
	}
	if im.AAKey != nil {
		der := x509.MarshalPKCS1PrivateKey(im.AAKey)
		out = append(out, TLV(0x84, der)...)
		clear(der)
	}
	out = append(out, TLV(0x85, []byte(mrz))...)
	out = append(out, TLV(0x86, []byte(im.CAN))...)
	return out, nil
}

// DecodeImage reads the stored form written by Encode (version 1). The
// image does not alias b: the caller may clear b at once.
func DecodeImage(b []byte) (*Image, error) {
	if len(b) < len(imageMagic)+1 || string(b[:len(imageMagic)]) != imageMagic {
		return nil, fmt.Errorf("%w: not a stored image", ErrImageEncoding)
	}
	if v := b[len(imageMagic)]; v != imageVersion {
		return nil, fmt.Errorf("%w: version %d, this program reads %d", ErrImageEncoding, v, imageVersion)
	}
	objs, err := ParseAll(b[len(imageMagic)+1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrImageEncoding, err)
	}
	im := &Image{}
	var haveMRZ bool
	for _, o := range objs {
		switch o.Tag {
		case 0xA0:
			parts, err := o.Children()
			if err != nil {
				return nil, fmt.Errorf("%w: file: %w", ErrImageEncoding, err)
			}
			fid, ok1 := Find(parts, 0x80)
			name, ok2 := Find(parts, 0x81)
			data, ok3 := Find(parts, 0x82)
			if !ok1 || !ok2 || !ok3 || len(fid.Value) != 2 || len(parts) != 3 {
				return nil, fmt.Errorf("%w: a file lacks its FID, name or data", ErrImageEncoding)
			}
			im.Files = append(im.Files, File{FID: FID(fid.Value[0])<<8 | FID(fid.Value[1]), Name: string(name.Value), Data: bytes.Clone(data.Value)})
		case 0x83:
			im.DG3 = bytes.Clone(o.Value)
		case 0x84:
			k, err := x509.ParsePKCS1PrivateKey(o.Value)
			if err != nil {
				return nil, fmt.Errorf("%w: AA key: %w", ErrImageEncoding, err)
			}
			im.AAKey = k
		case 0x85:
			m, err := ParseTD1(string(o.Value))
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrImageEncoding, err)
			}
			im.MRZ, haveMRZ = m, true
		case 0x86:
			im.CAN = string(o.Value)
		default:
			return nil, fmt.Errorf("%w: unknown element %X", ErrImageEncoding, o.Tag)
		}
	}
	if !haveMRZ || len(im.Files) == 0 {
		return nil, fmt.Errorf("%w: no MRZ or no files", ErrImageEncoding)
	}
	return im, nil
}

// ErrImageNotJSON: an Image has no JSON form (it holds a private key).
var ErrImageNotJSON = errors.New("lds: a chip image is never marshalled to JSON: use Encode")

// MarshalJSON refuses: see Encode. (Value receiver: it holds for Image
// values and pointers alike.)
func (im Image) MarshalJSON() ([]byte, error) { return nil, ErrImageNotJSON }

// Format prints sizes only, for every verb.
func (im Image) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "lds.Image{%d files, AA key %t (redacted)}", len(im.Files), im.AAKey != nil)
}

// Manifest describes a chip image written to a directory by WriteDir.
type Manifest struct {
	Files []ManifestFile `json:"files"`
	BAC   BACInputs      `json:"bac"`
	CAN   string         `json:"can"`
	// AAKeyFile is set only when the AA private key was written on request.
	AAKeyFile string `json:"aa_key_file,omitempty"`
}

// ManifestFile is one file of the manifest.
type ManifestFile struct {
	FID    string `json:"fid"`
	Name   string `json:"name"`
	File   string `json:"file"`
	Size   int    `json:"size"`
	SHA256 string `json:"sha256"`
}

// WriteDir writes one file per elementary file, named by FID in upper-case
// hex (011E.bin, 0101.bin, …), and manifest.json. The AA private key is
// written (aa-key.pem, mode 0600) only when withAAKey is set.
func (im *Image) WriteDir(dir string, withAAKey bool) (*Manifest, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	m := &Manifest{BAC: im.BAC(), CAN: im.CAN}
	for _, f := range im.Files {
		name := f.FID.String() + ".bin"
		if err := os.WriteFile(filepath.Join(dir, name), f.Data, 0o644); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(f.Data)
		m.Files = append(m.Files, ManifestFile{f.FID.String(), f.Name, name, len(f.Data), hex.EncodeToString(sum[:])})
	}
	if withAAKey && im.AAKey != nil {
		pemText := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(im.AAKey)})
		if err := os.WriteFile(filepath.Join(dir, "aa-key.pem"), pemText, 0o600); err != nil {
			return nil, err
		}
		m.AAKeyFile = "aa-key.pem"
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return m, nil
}

// ReadDir reads the files of a chip image directory: every <FID>.bin, keyed
// by FID (manifest.json is not needed).
func ReadDir(dir string) (map[FID][]byte, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[FID][]byte{}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".bin") || len(name) != 8 {
			continue
		}
		var fid uint16
		if _, err := fmt.Sscanf(strings.ToUpper(name[:4]), "%04X", &fid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out[FID(fid)] = b
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("lds: no <FID>.bin files in %s", dir)
	}
	return out, nil
}

// SortedFIDs returns the FIDs of a file map in ascending order.
func SortedFIDs(files map[FID][]byte) []FID {
	fids := make([]FID, 0, len(files))
	for f := range files {
		fids = append(fids, f)
	}
	slices.Sort(fids)
	return fids
}
