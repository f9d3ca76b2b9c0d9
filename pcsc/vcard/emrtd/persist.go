package emrtd

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// chipFormat names the JSON layout written by MarshalJSON.
const chipFormat = "cccd-station/emrtd-chip/v1"

// chipJSON is the saved persistent state of a chip: what its EEPROM holds.
// Bytes are upper-case hex. This is a test chip: the AA private key and the
// MRZ key seed input are saved in clear.
type chipJSON struct {
	Format string    `json:"format"`
	Model  string    `json:"model"`
	Serial string    `json:"serial"` // informative: derived from cplc, checked on Load
	CPLC   hexBytes  `json:"cplc"`
	State  stateJSON `json:"state"`
	// MRZKeySeed holds the PUT DATA 62 inputs; the keys are derived again on
	// Load.
	MRZKeySeed *mrzJSON   `json:"mrz_key_seed,omitempty"`
	AAKey      *aaKeyJSON `json:"aa_key,omitempty"`
	Files      []fileJSON `json:"files"`
}

// stateJSON are the JMRTD applet's persistent state bits.
type stateJSON struct {
	HasMRZKeySeed bool `json:"has_mrz_key_seed"` // HAS_MUTUALAUTHENTICATION_KEYS
	HasAAModulus  bool `json:"has_aa_modulus"`   // HAS_MODULUS
	HasAAExponent bool `json:"has_aa_exponent"`  // HAS_EXPONENT
	Locked        bool `json:"locked"`           // LOCKED
}

type mrzJSON struct {
	DocumentNumber string `json:"document_number"`
	DateOfBirth    string `json:"date_of_birth"`
	DateOfExpiry   string `json:"date_of_expiry"`
}

type aaKeyJSON struct {
	Modulus         hexBytes `json:"modulus,omitempty"`
	PrivateExponent hexBytes `json:"private_exponent,omitempty"`
}

type fileJSON struct {
	FID  string   `json:"fid"` // 4 hex digits
	Size int      `json:"size"`
	Data hexBytes `json:"data"`
}

type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) {
	return []byte(strings.ToUpper(hex.EncodeToString(h))), nil
}

func (h *hexBytes) UnmarshalText(text []byte) error {
	b, err := hex.DecodeString(string(text))
	if err != nil {
		return errors.New("not hex")
	}
	*h = b
	return nil
}

// MarshalJSON saves the chip's persistent state: model, CPLC, files with their
// sizes and contents, state bits, MRZ key seed inputs and AA key. Volatile
// state (selection, secure messaging), faults, latency and trace are not
// saved.
func (c *Chip) MarshalJSON() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := chipJSON{
		Format: chipFormat,
		Model:  c.model.Name,
		Serial: serialOf(&c.cplc),
		CPLC:   append(hexBytes(nil), c.cplc[:]...),
		State: stateJSON{
			HasMRZKeySeed: c.mrz != nil,
			HasAAModulus:  len(c.aa.modulus) > 0,
			HasAAExponent: len(c.aa.exponent) > 0,
			Locked:        c.locked,
		},
		Files: []fileJSON{},
	}
	if c.mrz != nil {
		s.MRZKeySeed = &mrzJSON{c.mrz.DocumentNumber, c.mrz.DateOfBirth, c.mrz.DateOfExpiry}
	}
	if len(c.aa.modulus) > 0 || len(c.aa.exponent) > 0 {
		s.AAKey = &aaKeyJSON{
			Modulus:         append(hexBytes(nil), c.aa.modulus...),
			PrivateExponent: append(hexBytes(nil), c.aa.exponent...),
		}
	}
	fids := make([]int, 0, len(c.files))
	for fid := range c.files {
		fids = append(fids, int(fid))
	}
	sort.Ints(fids)
	for _, fid := range fids {
		f := c.files[uint16(fid)]
		s.Files = append(s.Files, fileJSON{FID: fmt.Sprintf("%04X", fid), Size: len(f), Data: append(hexBytes(nil), f...)})
	}
	return json.MarshalIndent(s, "", "  ")
}

// Load restores a chip saved by MarshalJSON: same model, serial, files, keys
// and state bits; volatile state cleared as after power-on. Options apply as
// for New (faults, latency, trace, random source); WithSerial is ignored, the
// saved CPLC wins. Errors never quote key or MRZ values.
func Load(data []byte, opts ...Option) (*Chip, error) {
	var s chipJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("emrtd: load chip: decoding JSON: %w", redactJSONError(err))
	}
	if s.Format != chipFormat {
		return nil, fmt.Errorf("emrtd: load chip: format %q, want %q", s.Format, chipFormat)
	}
	m, ok := ModelByName(s.Model)
	if !ok {
		return nil, fmt.Errorf("emrtd: load chip: unknown model %q", s.Model)
	}
	if len(s.CPLC) != cplcLen {
		return nil, fmt.Errorf("emrtd: load chip: CPLC is %d bytes, want %d", len(s.CPLC), cplcLen)
	}
	c := New(m, opts...)
	copy(c.cplc[:], s.CPLC)
	if s.Serial != "" && s.Serial != serialOf(&c.cplc) {
		return nil, fmt.Errorf("emrtd: load chip: serial %q does not match the CPLC (%s)", s.Serial, serialOf(&c.cplc))
	}
	used := 0
	for _, f := range s.Files {
		fid, err := strconv.ParseUint(f.FID, 16, 16)
		if err != nil || len(f.FID) != 4 || !creatableFID(uint16(fid)) {
			return nil, fmt.Errorf("emrtd: load chip: bad file identifier %q", f.FID)
		}
		if _, dup := c.files[uint16(fid)]; dup {
			return nil, fmt.Errorf("emrtd: load chip: file %s twice", f.FID)
		}
		if f.Size < 1 || f.Size > maxFileSize || len(f.Data) != f.Size {
			return nil, fmt.Errorf("emrtd: load chip: file %s: size %d with %d data bytes", f.FID, f.Size, len(f.Data))
		}
		used += f.Size
		c.files[uint16(fid)] = append([]byte(nil), f.Data...)
	}
	if used > m.FileCapacity() {
		return nil, fmt.Errorf("emrtd: load chip: files take %d bytes, model %s has room for %d", used, m.Name, m.FileCapacity())
	}
	if (s.MRZKeySeed != nil) != s.State.HasMRZKeySeed {
		return nil, errors.New("emrtd: load chip: state bit has_mrz_key_seed disagrees with mrz_key_seed")
	}
	if s.MRZKeySeed != nil {
		in := keySeedInput{s.MRZKeySeed.DocumentNumber, s.MRZKeySeed.DateOfBirth, s.MRZKeySeed.DateOfExpiry}
		if err := in.validate(); err != nil {
			return nil, fmt.Errorf("emrtd: load chip: MRZ key seed: %w", err)
		}
		c.setMRZ(in)
	}
	var aa aaKeyJSON
	if s.AAKey != nil {
		aa = *s.AAKey
	}
	if (len(aa.Modulus) > 0) != s.State.HasAAModulus || (len(aa.PrivateExponent) > 0) != s.State.HasAAExponent {
		return nil, errors.New("emrtd: load chip: AA state bits disagree with aa_key")
	}
	if len(aa.Modulus) > 0 {
		k := aaKey{modulus: bytes.TrimLeft(aa.Modulus, "\x00")}
		if bits := k.bits(); bits%8 != 0 || bits < MinAAKeyBits || bits > m.MaxAAKeyBits {
			return nil, fmt.Errorf("emrtd: load chip: AA modulus of %d bits not supported by model %s", bits, m.Name)
		}
		c.aa.modulus = k.modulus
	}
	if len(aa.PrivateExponent) > 0 {
		e := bytes.TrimLeft(aa.PrivateExponent, "\x00")
		if len(e) == 0 || 8*len(e) > m.MaxAAKeyBits {
			return nil, errors.New("emrtd: load chip: AA private exponent too long for the model")
		}
		c.aa.exponent = append([]byte(nil), e...)
	}
	c.locked = s.State.Locked
	return c, nil
}

// redactJSONError keeps the position of a syntax error but not the offending
// value, which could be a key.
func redactJSONError(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("syntax error at byte %d", syn.Offset)
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Errorf("field %s: wrong type", typ.Field)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field") {
		return err
	}
	if strings.Contains(err.Error(), "not hex") {
		return errors.New("a byte field is not hex")
	}
	return errors.New("malformed")
}
