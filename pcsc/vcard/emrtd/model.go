package emrtd

import (
	"math"
	"time"
)

// Model is a chip product as far as the station can observe it (command set,
// ATR, memory, APDU sizes, RSA support, speed): a Java Card with the JMRTD
// applet, or the cccd chip (cccd.md).
type Model struct {
	// Name is the product name used on command lines and in saved chips.
	Name string
	// CommandSet is what the chip's eMRTD application answers: the JMRTD
	// applet (the zero value) or the cccd profile.
	CommandSet CommandSet
	// ATR is the answer-to-reset (ISO/IEC 7816-3 §8): T=1 advertised,
	// historical bytes per ISO/IEC 7816-4 §8.1.1, TCK computed.
	ATR []byte
	// EEPROM is the non-volatile memory available to the applet, in bytes:
	// the sum of the file sizes plus KeyStorage must fit (CREATE FILE answers
	// 6A84 otherwise).
	EEPROM int
	// ExtendedLength says whether extended Lc/Le fields (ISO/IEC 7816-4
	// §5.1) are accepted. A short-only chip answers an extended APDU with
	// 6700.
	ExtendedLength bool
	// MaxCommandData is the largest command data field (Nc) accepted in one
	// APDU; larger commands get 6700. Command chaining (PUT DATA only) can
	// carry more.
	MaxCommandData int
	// MaxResponseData is the largest response data field (Nr) the chip sends
	// in one APDU, secure messaging objects included.
	MaxResponseData int
	// MaxAAKeyBits is the largest RSA modulus accepted for Active
	// Authentication; the smallest is MinAAKeyBits.
	MaxAAKeyBits int
	// ICFabricator and ICType go into CPLC bytes 0-3 and so into the chip
	// serial.
	ICFabricator uint16
	ICType       uint16
	// Latency is this product's realistic timing. A chip applies it only
	// when asked: New(m, WithLatency(m.Latency)).
	Latency Latency
}

// CommandSet is the command set of a model's eMRTD application.
type CommandSet int

const (
	// CommandSetJMRTD is the open-source JMRTD passport applet: CREATE FILE
	// 63 04, PUT DATA for the MRZ seed and an RSA AA key, lock DE AD, BAC.
	CommandSetJMRTD CommandSet = iota
	// CommandSetCCCD is the cccd profile (personalization/cccd.md): an MF
	// with EF.CardAccess, FCP CREATE FILE, SCP03 personalization, keys
	// generated on the chip, ACTIVATE FILE, PACE, BAC, Chip Authentication
	// and ECDSA Active Authentication.
	CommandSetCCCD
)

func (s CommandSet) String() string {
	if s == CommandSetCCCD {
		return "cccd"
	}
	return "jmrtd"
}

// MinAAKeyBits is the smallest RSA modulus accepted for Active Authentication.
const MinAAKeyBits = 1024

// bacKeyStorage is what the MRZ key seed takes in EEPROM: K_enc and K_mac
// (16 bytes each) plus the document number with its check digit, rounded up.
const bacKeyStorage = 64

// KeyStorage is the EEPROM the applet reserves for keys when it is installed
// (Java Card key objects are allocated at install time, not on PUT DATA): the
// BAC keys and an RSA key pair object of MaxAAKeyBits (modulus and private
// exponent).
func (m Model) KeyStorage() int {
	if m.CommandSet == CommandSetCCCD {
		return cccdKeyStorage
	}
	return bacKeyStorage + 2*m.MaxAAKeyBits/8
}

// cccdKeyStorage is what the cccd chip reserves for keys: the BAC keys (64),
// K_π of the MRZ and of the CAN with the CAN (48), two EC key pairs of up to
// 256 bits (private 32 + public 65 + curve, 128 each), the SCP03 static keys
// of up to 256 bits (96) and sequence counter, and the life cycle state,
// rounded up to 512.
const cccdKeyStorage = 512

// FileCapacity is the EEPROM left for elementary files: the sum of the sizes
// given to CREATE FILE may not exceed it.
func (m Model) FileCapacity() int { return m.EEPROM - m.KeyStorage() }

// Historical bytes (ISO/IEC 7816-4 §8.1.1): category indicator 80 (COMPACT-TLV
// follows), card capabilities 73 (tag 7, length 3) with the third software
// function table byte saying b8 = command chaining, b7 = extended Lc and Le
// (§8.1.1.2.7), then the product name in ASCII.
var (
	histExt144  = []byte{0x80, 0x73, 0xC8, 0x21, 0xC0, 'V', 'C', 'X', '1', '4', '4'}
	histShort80 = []byte{0x80, 0x73, 0xC8, 0x21, 0x80, 'V', 'C', 'S', '0', '8', '0'}
	histCCCD    = []byte{0x80, 0x73, 0xC8, 0x21, 0xC0, 'V', 'C', 'C', 'C', 'D', '1'}
)

// atrT1 builds an ATR advertising T=0 then T=1 with the given historical
// bytes (ISO/IEC 7816-3 §8.2): TS=3B, T0 = 8K (TD1 present, K historical
// bytes), TD1 = 80 (TD2 present, T=0), TD2 = 01 (T=1), the historical bytes,
// and TCK, the XOR of T0 to the last historical byte (§8.2.5), required when
// a protocol other than T=0 is indicated.
func atrT1(hist []byte) []byte {
	if len(hist) > 15 {
		panic("emrtd: more than 15 historical bytes")
	}
	atr := []byte{0x3B, 0x80 | byte(len(hist)), 0x80, 0x01}
	atr = append(atr, hist...)
	var tck byte
	for _, b := range atr[1:] {
		tck ^= b
	}
	return append(atr, tck)
}

var (
	// ModelExt144 is a chip with 144 KiB EEPROM, extended length APDUs and
	// RSA up to 2048 bits: 3B 8B 80 01 80 73 C8 21 C0 "VCX144" TCK.
	ModelExt144 = Model{
		Name:            "ext144",
		ATR:             atrT1(histExt144),
		EEPROM:          144 * 1024,
		ExtendedLength:  true,
		MaxCommandData:  2048,
		MaxResponseData: 2048,
		MaxAAKeyBits:    2048,
		ICFabricator:    0x5643, // "VC": a virtual chip, not a real fabricator code
		ICType:          0x0144,
		Latency:         LatencyRealistic,
	}
	// ModelShort80 is a chip with 80 KiB EEPROM, short APDUs only (command
	// chaining allowed) and 1024-bit RSA only: 3B 8B 80 01 80 73 C8 21 80
	// "VCS080" TCK.
	ModelShort80 = Model{
		Name:            "short80",
		ATR:             atrT1(histShort80),
		EEPROM:          80 * 1024,
		ExtendedLength:  false,
		MaxCommandData:  255,
		MaxResponseData: 256,
		MaxAAKeyBits:    1024,
		ICFabricator:    0x5643,
		ICType:          0x0080,
		Latency:         LatencyRealistic,
	}
)

// ModelCCCD is the cccd chip (personalization/cccd.md): a native eMRTD
// operating system with an MF holding EF.CardAccess, personalized under
// SCP03 with keys generated on the chip, read with PACE (or BAC), Chip
// Authentication and ECDSA Active Authentication. 144 KiB EEPROM, extended
// length, 2048 bytes each way, no RSA: 3B 8B 80 01 80 73 C8 21 C0 "VCCCD1"
// TCK. The largest realistic image — DG2 at its 20,000-byte budget, DG3 at
// the 32,767 bytes an EF can hold with 15-bit offsets (ten ISO/IEC 19794-2
// minutiae records take ≈ 3-15 KB), DG13 with long addresses (≈ 3 KB),
// EF.SOD with its certificate (≈ 3 KB), the small files and the keys — is
// ≈ 60 KB; 144 KiB (the size of the common secure-element products, as
// ext144) leaves room to spare.
var ModelCCCD = Model{
	Name:            "cccd",
	CommandSet:      CommandSetCCCD,
	ATR:             atrT1(histCCCD),
	EEPROM:          144 * 1024,
	ExtendedLength:  true,
	MaxCommandData:  2048,
	MaxResponseData: 2048,
	MaxAAKeyBits:    0, // ECDSA Active Authentication only
	ICFabricator:    0x5643,
	ICType:          0xCCCD,
	Latency:         LatencyRealistic,
}

// Models lists every chip product, for tests and cmd/vcard to choose from.
// Treat it as read-only; ModelByName returns an independent copy.
var Models = []Model{ModelExt144, ModelShort80, ModelCCCD}

// ModelByName returns the model with that name.
func ModelByName(name string) (Model, bool) {
	for _, m := range Models {
		if m.Name == name {
			m.ATR = append([]byte(nil), m.ATR...)
			return m, true
		}
	}
	return Model{}, false
}

// Latency is a chip's timing model. Each Process call costs
//
//	PerCommand + PerByte*(command bytes + response bytes)
//	+ PerEEPROMByte*(bytes written to EEPROM) + PerKey*(keys imported or generated)
//	+ PerRSA1024*(bits/1024)³ per RSA private-key operation
//	+ PerECKeyGen per EC key pair generated and stored (GENERATE ASYMMETRIC
//	  KEY PAIR) + PerECOp per other 256-bit EC scalar multiplication or
//	  ECDSA signature (PACE, Chip Authentication, ECDSA Active
//	  Authentication)
//
// and, when the chip was built WithLatency, Process sleeps that long (outside
// the chip's lock). The cost is also available without sleeping through
// Chip.Usage and Latency.Cost, which is how benchmarks project real-chip
// throughput.
type Latency struct {
	PerCommand    time.Duration
	PerByte       time.Duration
	PerEEPROMByte time.Duration
	PerKey        time.Duration
	PerRSA1024    time.Duration
	PerECKeyGen   time.Duration
	PerECOp       time.Duration
}

// LatencyOff is no latency at all (the default of New).
var LatencyOff = Latency{}

// LatencyRealistic approximates a contact Java Card of the JCOP class at a
// reader speed of 115.2 kbit/s:
//
//   - PerByte 87 µs: a character is 10 etu (start bit, 8 data bits, parity)
//     at 115 200 etu/s = 86.8 µs. T=1 block framing (NAD PCB LEN … LRC, 4
//     bytes each way) is counted in PerCommand.
//   - PerCommand 3 ms: T=1 framing (8 bytes ≈ 0.7 ms), the reader and driver
//     turnaround (≈ 0.3 ms) and the Java Card dispatch of the APDU to the
//     applet's process() with its state checks (≈ 2 ms).
//   - PerEEPROMByte 50 µs: secure-microcontroller EEPROM writes a 64-byte
//     page in ≈ 3 ms (erase + program); 3 ms / 64 B ≈ 47 µs, rounded up for
//     the Java Card transaction journal. CREATE FILE costs its whole size
//     (the JCRE zero-fills new arrays in EEPROM).
//   - PerKey 25 ms: importing an RSA key component or the MRZ key seed (SHA-1,
//     two 3DES key objects, parity) into key objects, or generating the BAC
//     session keys in EXTERNAL AUTHENTICATE.
//   - PerRSA1024 120 ms: the applet holds modulus and private exponent only,
//     so INTERNAL AUTHENTICATE is a non-CRT private operation (≈ 3× a CRT
//     one); ≈ 120 ms at 1024 bits on an RSA coprocessor, scaling with the
//     cube of the modulus length (≈ 0.96 s at 2048 bits).
//   - PerECKeyGen 200 ms: generating a 256-bit EC key pair on the chip (a
//     random scalar, one scalar multiplication, the key pair written to
//     EEPROM), the slowest step of a cccd personalization. ECTester
//     (crocs-muni, https://neuromancer.sk/ECTester/, its Java Card
//     performance table) measured 256-bit prime-field ECDH at 150-266 ms
//     and ECDSA signing at 145-183 ms on NXP JCOP v2.4.2 R3, Infineon
//     CJTOP, G&D SmartCafe 6.0 and Athena IDProtect; key pair generation is
//     one scalar multiplication of that cost plus the key objects' EEPROM
//     writes: 200 ms, in the 100-300 ms range of secure elements.
//   - PerECOp 150 ms: one 256-bit scalar multiplication or ECDSA signature
//     (the low end of the same measurements: ECDH 150 ms, ECDSA 145 ms).
//     PACE costs the chip five (its mapping key, H, the mapped generator,
//     its ephemeral key, the shared secret), Chip Authentication one, ECDSA
//     Active Authentication one.
var LatencyRealistic = Latency{
	PerCommand:    3 * time.Millisecond,
	PerByte:       87 * time.Microsecond,
	PerEEPROMByte: 50 * time.Microsecond,
	PerKey:        25 * time.Millisecond,
	PerRSA1024:    120 * time.Millisecond,
	PerECKeyGen:   200 * time.Millisecond,
	PerECOp:       150 * time.Millisecond,
}

// IsZero reports whether l costs nothing.
func (l Latency) IsZero() bool { return l == Latency{} }

// Usage counts the work a chip did: the inputs of the latency model.
type Usage struct {
	Commands    int // APDUs processed
	BytesIn     int // command APDU bytes
	BytesOut    int // response APDU bytes
	EEPROMBytes int // bytes written to EEPROM (file data, zero-filled new files, keys)
	Keys        int // keys imported or generated
	// RSAOps counts RSA private-key operations by modulus size in bits.
	RSAOps map[int]int
	// ECKeyGens counts EC key pairs generated and stored on the chip.
	ECKeyGens int
	// ECOps counts other EC scalar multiplications and ECDSA signatures.
	ECOps int
}

func (u *Usage) add(v Usage) {
	u.Commands += v.Commands
	u.BytesIn += v.BytesIn
	u.BytesOut += v.BytesOut
	u.EEPROMBytes += v.EEPROMBytes
	u.Keys += v.Keys
	u.ECKeyGens += v.ECKeyGens
	u.ECOps += v.ECOps
	for bits, n := range v.RSAOps {
		if u.RSAOps == nil {
			u.RSAOps = make(map[int]int)
		}
		u.RSAOps[bits] += n
	}
}

func (u *Usage) rsa(bits int) {
	if u.RSAOps == nil {
		u.RSAOps = make(map[int]int)
	}
	u.RSAOps[bits]++
}

func (u Usage) clone() Usage {
	v := u
	v.RSAOps = nil
	for bits, n := range u.RSAOps {
		if v.RSAOps == nil {
			v.RSAOps = make(map[int]int, len(u.RSAOps))
		}
		v.RSAOps[bits] = n
	}
	return v
}

// Cost is the time a real chip would take for the work in u.
func (l Latency) Cost(u Usage) time.Duration {
	d := time.Duration(u.Commands)*l.PerCommand +
		time.Duration(u.BytesIn+u.BytesOut)*l.PerByte +
		time.Duration(u.EEPROMBytes)*l.PerEEPROMByte +
		time.Duration(u.Keys)*l.PerKey +
		time.Duration(u.ECKeyGens)*l.PerECKeyGen +
		time.Duration(u.ECOps)*l.PerECOp
	for bits, n := range u.RSAOps {
		f := math.Pow(float64(bits)/1024, 3)
		d += time.Duration(float64(l.PerRSA1024) * f * float64(n))
	}
	return d
}
