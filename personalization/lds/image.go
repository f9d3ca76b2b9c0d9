package lds

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
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
func (im *Image) LogValue() slog.Value {
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

// imageJSON is the serialized form of an Image (the queue stores it
// encrypted; `stationctl encode` writes files instead).
type imageJSON struct {
	Files []struct {
		FID  string `json:"fid"`
		Name string `json:"name"`
		Data []byte `json:"data"`
	} `json:"files"`
	DG3   []byte `json:"dg3,omitempty"`
	AAKey []byte `json:"aa_key,omitempty"` // PKCS#1 DER
	MRZ   string `json:"mrz"`
	CAN   string `json:"can"`
}

// MarshalJSON serializes the image including the AA private key: callers
// store it only encrypted.
func (im *Image) MarshalJSON() ([]byte, error) {
	var j imageJSON
	for _, f := range im.Files {
		j.Files = append(j.Files, struct {
			FID  string `json:"fid"`
			Name string `json:"name"`
			Data []byte `json:"data"`
		}{f.FID.String(), f.Name, f.Data})
	}
	j.DG3 = im.DG3
	if im.AAKey != nil {
		j.AAKey = x509.MarshalPKCS1PrivateKey(im.AAKey)
	}
	mrz, err := im.MRZ.String()
	if err != nil {
		return nil, err
	}
	j.MRZ, j.CAN = mrz, im.CAN
	return json.Marshal(j)
}

// UnmarshalJSON restores an image.
func (im *Image) UnmarshalJSON(b []byte) error {
	var j imageJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*im = Image{DG3: j.DG3, CAN: j.CAN}
	for _, f := range j.Files {
		var fid uint16
		if _, err := fmt.Sscanf(f.FID, "%04X", &fid); err != nil {
			return fmt.Errorf("lds: image file id %q: %w", f.FID, err)
		}
		im.Files = append(im.Files, File{FID(fid), f.Name, f.Data})
	}
	if len(j.AAKey) > 0 {
		k, err := x509.ParsePKCS1PrivateKey(j.AAKey)
		if err != nil {
			return fmt.Errorf("lds: image AA key: %w", err)
		}
		im.AAKey = k
	}
	m, err := ParseTD1(j.MRZ)
	if err != nil {
		return err
	}
	im.MRZ = m
	return nil
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
