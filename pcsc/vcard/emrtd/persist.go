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
	// CCCD is the state only the cccd model has (absent on the others).
	// Its EF.CardAccess (011C) in Files is the MF's file.
	CCCD *cccdJSON `json:"cccd,omitempty"`
}

// cccdJSON is the cccd model's persistent state: life cycle, CAN, the keys
// generated on the chip (private keys in clear: a test chip) and the SCP03
// static keys with their sequence counter. K_π of the MRZ and of the CAN
// are derived again on Load.
type cccdJSON struct {
	LifeCycle string     `json:"life_cycle"` // "personalization" or "operational" (= state.locked)
	CAN       string     `json:"can,omitempty"`
	CAKey     *ecKeyJSON `json:"ca_key,omitempty"` // key reference 01
	AAKey     *ecKeyJSON `json:"aa_key,omitempty"` // key reference 02
	SCP03     scp03JSON  `json:"scp03"`
}

type ecKeyJSON struct {
	Curve   string   `json:"curve"` // brainpoolP256r1 or P-256
	Private hexBytes `json:"private"`
	Public  hexBytes `json:"public"` // 04 ‖ X ‖ Y
}

type scp03JSON struct {
	KVN             hexBytes `json:"kvn"`
	ENC             hexBytes `json:"enc"` // the chip's static (diversified) keys
	MAC             hexBytes `json:"mac"`
	DEK             hexBytes `json:"dek"`
	SequenceCounter uint32   `json:"sequence_counter"`
}

const (
	lifeCyclePerso       = "personalization"
	lifeCycleOperational = "operational"
)

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
// sizes and contents, state bits, MRZ key seed inputs and AA key; on the cccd
// model also the life cycle, the CAN, the generated keys and the SCP03 keys
// and sequence counter. Volatile state (selection, sessions), faults,
// latency and trace are not saved.
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
	if c.cccdModel() {
		s.CCCD = c.cccdState()
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
		if err != nil || len(f.FID) != 4 || !c.creatableFIDFor(uint16(fid)) {
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
	if m.CommandSet == CommandSetCCCD {
		if err := c.loadCCCD(s); err != nil {
			return nil, fmt.Errorf("emrtd: load chip: %w", err)
		}
	} else if s.CCCD != nil {
		return nil, fmt.Errorf("emrtd: load chip: model %s has no cccd state", m.Name)
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

func (c *Chip) cccdState() *cccdJSON {
	st := &cccdJSON{
		LifeCycle: lifeCyclePerso,
		CAN:       c.can,
		SCP03: scp03JSON{
			KVN: hexBytes{c.scpKeys.kvn},
			ENC: clone(c.scpKeys.enc), MAC: clone(c.scpKeys.mac), DEK: clone(c.scpKeys.dek),
			SequenceCounter: c.scpSeq,
		},
	}
	if c.locked {
		st.LifeCycle = lifeCycleOperational
	}
	for _, k := range []struct {
		key *ecKey
		out **ecKeyJSON
	}{{c.caKey, &st.CAKey}, {c.aaEC, &st.AAKey}} {
		if k.key != nil {
			*k.out = &ecKeyJSON{Curve: k.key.curve.name, Private: k.key.private(), Public: k.key.public()}
		}
	}
	return st
}

// loadCCCD restores the cccd state of a saved chip. Errors never quote keys
// or the CAN.
func (c *Chip) loadCCCD(s chipJSON) error {
	st := s.CCCD
	if st == nil {
		return errors.New("cccd state missing")
	}
	if s.AAKey != nil || s.State.HasAAModulus || s.State.HasAAExponent {
		return errors.New("a cccd chip has no RSA Active Authentication key")
	}
	switch {
	case st.LifeCycle == lifeCycleOperational && s.State.Locked, st.LifeCycle == lifeCyclePerso && !s.State.Locked:
	default:
		return errors.New("life_cycle disagrees with state.locked")
	}
	if st.CAN != "" {
		if len(st.CAN) != 6 || strings.Trim(st.CAN, "0123456789") != "" {
			return errors.New("the CAN is not 6 digits")
		}
		c.setCAN(st.CAN)
	}
	for _, k := range []struct {
		in   *ecKeyJSON
		slot **ecKey
		name string
	}{{st.CAKey, &c.caKey, "ca_key"}, {st.AAKey, &c.aaEC, "aa_key"}} {
		if k.in == nil {
			continue
		}
		curve, ok := curveByName(k.in.Curve)
		if !ok {
			return fmt.Errorf("%s: unknown curve %q", k.name, k.in.Curve)
		}
		key, err := ecKeyFrom(curve, k.in.Private, k.in.Public)
		if err != nil {
			return fmt.Errorf("%s: %w", k.name, err)
		}
		*k.slot = key
	}
	sc := st.SCP03
	switch {
	case len(sc.KVN) != 1:
		return errors.New("scp03: kvn must be one byte")
	case len(sc.ENC) != 16 && len(sc.ENC) != 24 && len(sc.ENC) != 32,
		len(sc.MAC) != len(sc.ENC), len(sc.DEK) != len(sc.ENC):
		return errors.New("scp03: enc, mac and dek must be AES keys of one length")
	case sc.SequenceCounter > scpSeqMax:
		return errors.New("scp03: sequence_counter is more than 3 bytes")
	}
	c.scpKeys = scp03Keys{kvn: sc.KVN[0], enc: clone(sc.ENC), mac: clone(sc.MAC), dek: clone(sc.DEK)}
	c.scpSeq = sc.SequenceCounter
	if s.State.Locked {
		for _, fid := range []uint16{fidCardAccess, 0x011E, 0x011D} {
			if _, ok := c.files[fid]; !ok {
				return fmt.Errorf("an operational chip without file %04X", fid)
			}
		}
		if c.caKey == nil || c.aaEC == nil || c.mrz == nil || c.can == "" {
			return errors.New("an operational chip without its keys or secrets")
		}
	}
	return nil
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
