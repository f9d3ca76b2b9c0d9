package lds

import (
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

// Image is everything that goes onto one chip: the Content prepared ahead
// and the security objects made for the card in hand (DG14, DG15, EF.COM,
// EF.SOD — personalization.Finish). It lives only in memory, on the card's
// path: what is stored between preparation and the claim is the Content.
type Image struct {
	// Files in write order; EF.SOD last (chip-data.md §1).
	Files []File
	// DG3 is prepared but only written once Terminal Authentication
	// protects it (chip-data.md §1).
	DG3 []byte
	// AAKey is a station-made Active Authentication private key (the JMRTD
	// profile), kept only until it is injected into the chip; nil when the
	// chip makes its own.
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
	WipeRSAKey(im.AAKey)
	im.AAKey = nil
}

// WipeRSAKey overwrites a private key's secret numbers in memory (the
// words, not only the lengths): the one way station-made keys are wiped.
func WipeRSAKey(k *rsa.PrivateKey) {
	if k == nil {
		return
	}
	zero := func(x *big.Int) {
		if x != nil {
			clear(x.Bits())
			x.SetInt64(0)
		}
	}
	zero(k.D)
	for _, p := range k.Primes {
		zero(p)
	}
	zero(k.Precomputed.Dp)
	zero(k.Precomputed.Dq)
	zero(k.Precomputed.Qinv)
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
