package emrtd

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/cccd-station/station/pcsc/vcard"
)

// Application identifiers (ISO/IEC 7816-5).
var (
	// AIDPassport is the eMRTD application (ICAO 9303-10), the JMRTD
	// passport applet.
	AIDPassport = []byte{0xA0, 0x00, 0x00, 0x02, 0x47, 0x10, 0x01}
	// AIDCardManager is the GlobalPlatform Issuer Security Domain.
	AIDCardManager = []byte{0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00}
	// AIDCardManagerOP is the Open Platform 2.0.1 card manager AID, also
	// accepted.
	AIDCardManagerOP = []byte{0xA0, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00}
)

type application int

const (
	appCardManager application = iota // selected after power-on and reset (JMRTD models)
	appPassport
	appMF // cccd: the MF is the current DF after power-on and reset (cccd.md §1)
)

// Chip is a virtual eMRTD chip: a Java Card with a GlobalPlatform card manager
// and the JMRTD passport applet, or the cccd chip (its model's CommandSet).
// It implements vcard.Persistent.
//
// Process must be called from one goroutine at a time (one reader owns the
// card); Serial, Written, Locked, Usage and MarshalJSON may be called from
// any goroutine meanwhile.
type Chip struct {
	mu sync.Mutex

	model   Model
	latency Latency
	faults  Faults
	trace   io.Writer
	rand    io.Reader

	// Persistent state (EEPROM).
	cplc   [cplcLen]byte
	files  map[uint16][]byte
	mrz    *keySeedInput
	kEnc   []byte // derived from mrz
	kMac   []byte
	aa     aaKey
	locked bool // JMRTD: LOCK done; cccd: operational (ACTIVATE FILE done)

	// Persistent state of the cccd model (cccd.md).
	can     string // the card access number, 6 digits
	kPiMRZ  []byte // K_π of the MRZ (ICAO 9303-11 §9.7.3), derived from mrz
	kPiCAN  []byte // K_π of the CAN, derived from can
	caKey   *ecKey // key reference 01: Chip Authentication (ECDH)
	aaEC    *ecKey // key reference 02: Active Authentication (ECDSA)
	scpKeys scp03Keys
	scpSeq  uint32 // SCP03 sequence counter (3 bytes), +1 per INITIALIZE UPDATE
	// scpAID is the AID in the pseudo-random card challenge: the eMRTD
	// application's (configuration, not state; the SCP03 known-answer test
	// sets the vector's).
	scpAID []byte

	// Volatile state (RAM), cleared by Reset and PowerOff.
	app         application
	selected    uint16
	hasSelected bool
	challenge   []byte // RND.IC after GET CHALLENGE, single use
	sm          *smSession
	chain       chainState
	removed     bool
	// cccd: SCP03 after INITIALIZE UPDATE (scpInit) and once authenticated
	// (scp); PACE in progress; Chip Authentication set up by MSE; the
	// session Chip Authentication starts after its answer.
	scpInit *scp03Session
	scp     *scp03Session
	pace    *paceState
	caReady bool
	smNext  *smSession

	// Bookkeeping.
	apdus       int
	removeFired bool
	tearFired   bool
	usage       Usage
	traceInner  string
}

// chainState accumulates a PUT DATA sent with command chaining (ISO/IEC
// 7816-4: CLA b5 = 1 on every command but the last).
type chainState struct {
	active    bool
	ins       byte
	p1, p2    byte
	protected bool
	buf       []byte
}

// maxChainData bounds the data a chain may accumulate.
const maxChainData = 4096

var _ vcard.Persistent = (*Chip)(nil)

type config struct {
	latency  Latency
	faults   Faults
	scp03    SCP03Master
	trace    io.Writer
	rand     io.Reader
	serial   uint32
	batch    uint16
	hasFixed bool
}

// Option configures a chip.
type Option func(*config)

// WithLatency makes Process sleep for the modelled duration of each command
// (default LatencyOff). Pass the model's own: WithLatency(m.Latency).
func WithLatency(l Latency) Option { return func(c *config) { c.latency = l } }

// WithFaults sets the faults the chip produces on demand.
func WithFaults(f Faults) Option { return func(c *config) { c.faults = f } }

// WithSerial fixes the IC serial number and IC batch id of a new chip (CPLC
// bytes 12-17) instead of drawing a fresh one; for tests. Load ignores it:
// a loaded chip keeps its saved CPLC.
func WithSerial(icSerialNumber uint32, icBatchID uint16) Option {
	return func(c *config) { c.serial, c.batch, c.hasFixed = icSerialNumber, icBatchID, true }
}

// WithTrace writes one line per APDU to w: command headers, lengths, status
// words and the state changes they cause — never command or response data.
// Writes happen under the chip's lock.
func WithTrace(w io.Writer) Option { return func(c *config) { c.trace = w } }

// WithRand sets the chip's random source (default crypto/rand): RND.IC of GET
// CHALLENGE (8 bytes), K.IC of EXTERNAL AUTHENTICATE (16 bytes) and M1 of
// INTERNAL AUTHENTICATE are read from it in that order of use. A test hook
// for known-answer tests.
func WithRand(r io.Reader) Option { return func(c *config) { c.rand = r } }

// New returns a blank chip of the given model with a fresh, unique serial: no
// files, no keys, not locked, card manager selected.
func New(model Model, opts ...Option) *Chip {
	cfg := config{rand: rand.Reader}
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.hasFixed {
		cfg.serial, cfg.batch = nextSerial()
	}
	model.ATR = append([]byte(nil), model.ATR...)
	c := &Chip{
		model:   model,
		latency: cfg.latency,
		faults:  cfg.faults,
		trace:   cfg.trace,
		rand:    cfg.rand,
		cplc:    newCPLC(model, cfg.serial, cfg.batch),
		files:   make(map[uint16][]byte),
	}
	if c.cccdModel() {
		// The chip diversifies its static SCP03 keys from the master keys
		// with its own serial (cccd.md §3).
		c.scpKeys = cfg.scp03.diversify(c.diversificationData())
		c.scpAID = clone(AIDPassport)
	}
	c.clearVolatile()
	return c
}

// cccdModel reports whether the chip runs the cccd command set.
func (c *Chip) cccdModel() bool { return c.model.CommandSet == CommandSetCCCD }

// diversificationData is the SCP03 key diversification data: the chip
// serial's 10 bytes, CPLC 0-3 ‖ 12-17 (cccd.md §1, §3).
func (c *Chip) diversificationData() []byte {
	d := make([]byte, 0, 10)
	d = append(d, c.cplc[0:4]...)
	return append(d, c.cplc[cplcICSerialNumber:cplcICBatchID+2]...)
}

// ATR returns the model's answer-to-reset.
func (c *Chip) ATR() []byte { return append([]byte(nil), c.model.ATR...) }

// Model returns the chip's model.
func (c *Chip) Model() Model {
	m := c.model
	m.ATR = append([]byte(nil), m.ATR...)
	return m
}

// PowerOn is the reader powering the card (an insertion when the card had
// been pulled out): volatile state starts cleared.
func (c *Chip) PowerOn() { c.powerEvent("power on") }

// PowerOff clears the volatile state; files, keys, the lock (life cycle)
// and the SCP03 sequence counter stay.
func (c *Chip) PowerOff() { c.powerEvent("power off") }

// Reset is a warm reset: like PowerOff then PowerOn.
func (c *Chip) Reset() { c.powerEvent("reset") }

func (c *Chip) powerEvent(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearVolatile()
	c.removed = false
	c.tracef("%s", what)
}

// clearVolatile is what the loss of power does to RAM (Java Card
// CLEAR_ON_RESET): card manager selected (cccd: the MF current), no file,
// no challenge, no secure messaging, no SCP03 session, no PACE or Chip
// Authentication in progress, no chain.
func (c *Chip) clearVolatile() {
	c.app = appCardManager
	if c.cccdModel() {
		c.app = appMF
	}
	c.hasSelected = false
	c.challenge = nil
	c.sm = nil
	c.chain = chainState{}
	c.scpInit = nil
	c.scp = nil
	c.pace = nil
	c.caReady = false
	c.smNext = nil
}

// pullOut is the card leaving the reader mid-command.
func (c *Chip) pullOut() {
	c.clearVolatile()
	c.removed = true
}

// Serial is the chip serial: upper-case hex of CPLC IC fabricator, IC type, IC
// serial number and IC batch id (20 characters).
func (c *Chip) Serial() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return serialOf(&c.cplc)
}

// Written reports whether anything was written since the chip was blank: a
// file created, data written, a key or the MRZ key seed stored, the lock set.
func (c *Chip) Written() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written()
}

func (c *Chip) written() bool {
	return len(c.files) > 0 || c.mrz != nil || len(c.aa.modulus) > 0 || len(c.aa.exponent) > 0 || c.locked ||
		c.can != "" || c.caKey != nil || c.aaEC != nil
}

// Locked reports whether the applet has been locked (PUT DATA DE AD) or,
// on the cccd model, made operational (ACTIVATE FILE).
func (c *Chip) Locked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.locked
}

// Usage returns the work done since New or Load, for Latency.Cost.
func (c *Chip) Usage() Usage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usage.clone()
}

// String names the chip without any of its secrets.
func (c *Chip) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("emrtd.Chip{%s %s locked=%t}", c.model.Name, serialOf(&c.cplc), c.locked)
}

// LogValue logs the chip's model, serial and lock state only.
func (c *Chip) LogValue() slog.Value {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slog.GroupValue(
		slog.String("model", c.model.Name),
		slog.String("serial", serialOf(&c.cplc)),
		slog.Bool("locked", c.locked),
	)
}

// Process handles one command APDU. It returns vcard.ErrRemoved, and no
// response, when a fault pulls the card out.
func (c *Chip) Process(cmd []byte) ([]byte, error) {
	c.mu.Lock()
	var u Usage
	resp, err := c.process(cmd, &u)
	c.usage.add(u)
	delay := c.latency.Cost(u)
	c.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	return resp, err
}

func (c *Chip) process(raw []byte, u *Usage) ([]byte, error) {
	if c.removed {
		return nil, vcard.ErrRemoved
	}
	c.apdus++
	if n := c.faults.RemoveAfter; n > 0 && !c.removeFired && c.apdus > n {
		c.removeFired = true
		c.pullOut()
		c.tracef("#%d removed from the reader (fault: after APDU %d)", c.apdus, n)
		return nil, vcard.ErrRemoved
	}
	u.Commands, u.BytesIn = 1, len(raw)
	c.traceInner = ""

	var resp []byte
	var err error
	cmd, ok := parseCommand(raw)
	switch {
	case !ok:
		resp = status(swWrongLength)
	case cmd.extended && !c.model.ExtendedLength:
		resp = status(swWrongLength)
	case len(cmd.data) > c.model.MaxCommandData:
		resp = status(swWrongLength)
	case c.cccdModel():
		resp, err = c.cccd(cmd, u)
	case cmd.cla == 0x00 && cmd.ins == 0xA4 && cmd.p1 == 0x04:
		// Application selection belongs to the Java Card runtime
		// environment (SELECT FILE by DF name on the basic channel).
		resp = c.selectApplication(cmd)
	case c.app == appPassport:
		resp, err = c.passport(cmd, u)
	default:
		resp = c.cardManager(cmd)
	}
	u.BytesOut = len(resp)
	c.traceAPDU(raw, cmd, ok, resp, err)
	return resp, err
}

// selectApplication handles SELECT by AID (ISO/IEC 7816-4 §11.2.2, P1=04):
// P2 00 (first occurrence: the card manager returns its FCI when there is an
// Le) or 0C (no response data). Selecting
// any application ends the applet's secure messaging session and clears the
// file selection. An unknown AID answers 6A82 and leaves the selection as it
// was.
func (c *Chip) selectApplication(cmd command) []byte {
	if cmd.p2 != 0x00 && cmd.p2 != 0x0C {
		return status(swIncorrectP1P2)
	}
	if len(cmd.data) < 5 || len(cmd.data) > 16 {
		return status(swWrongLength)
	}
	switch {
	case bytes.Equal(cmd.data, AIDPassport):
		c.clearVolatile()
		c.app = appPassport
		return status(swOK) // the JMRTD applet returns no FCI
	case bytes.Equal(cmd.data, AIDCardManager), bytes.Equal(cmd.data, AIDCardManagerOP):
		c.clearVolatile()
		c.app = appCardManager
		if cmd.p2 == 0x0C || !cmd.hasLe { // no Le: no response data (case 3)
			return status(swOK)
		}
		// FCI (GP Card Specification §11.9.3.1): '84' AID, 'A5' proprietary
		// data with '9F65' maximum length of the command data field.
		var maxLen []byte
		if c.model.MaxCommandData > 0xFF {
			maxLen = []byte{byte(c.model.MaxCommandData >> 8), byte(c.model.MaxCommandData)}
		} else {
			maxLen = []byte{byte(c.model.MaxCommandData)}
		}
		fci := appendTLV(nil, 0x84, cmd.data)
		fci = appendTLV(fci, 0xA5, appendTLV(nil, 0x9F65, maxLen))
		fci = appendTLV(nil, 0x6F, fci)
		if len(fci) > cmd.ne {
			return status(swWrongLe(len(fci)))
		}
		return respond(fci, swOK)
	}
	return status(swFileNotFound)
}

// cardManager is the GlobalPlatform Issuer Security Domain, reduced to what
// the station uses: GET DATA CPLC; and, as on a Java Card, no file system.
func (c *Chip) cardManager(cmd command) []byte {
	if cmd.cla != 0x00 && cmd.cla != 0x80 {
		return status(unsupportedCLA(cmd.cla))
	}
	switch cmd.ins {
	case 0xCA:
		return respond(c.getData(cmd))
	case 0xA4:
		return c.selectFileNoFS(cmd)
	}
	return status(swINSNotSupported)
}

// getData is GET DATA (GP Card Specification §11.3) of the CPLC, tag 9F7F
// (9F 7F 2A + 42 bytes; Le short of 45 bytes 6C2D); other tags 6A88.
func (c *Chip) getData(cmd command) ([]byte, uint16) {
	if len(cmd.data) != 0 {
		return nil, swWrongLength
	}
	if cmd.p1p2() != 0x9F7F {
		return nil, swRefDataNotFound
	}
	resp := appendTLV(nil, 0x9F7F, c.cplc[:])
	if cmd.neOrDefault() < len(resp) {
		return nil, swWrongLe(len(resp))
	}
	return resp, swOK
}

// selectFileNoFS is SELECT FILE other than by DF name (ISO/IEC 7816-4
// §11.2.2) while no application with files is selected: the card has no
// MF and no EFs outside the applet, so selecting the MF (P1 00 without data,
// or 3F00), an EF by identifier (P1 00 or 02, such as EF.CardAccess 011C,
// which readers try first, before selecting the eMRTD application) answers
// 6A82 "file or application not found" — what readers expect from a chip
// without the file. Other selection methods (P1 01 DF, 03 parent, 08/09
// path) and P2 other than 00/0C answer 6A86, as in the applet; a data field
// of the wrong length 6700. (Real CCCD chips answer SELECT MF with 6D00:
// chip-data.md §1. This chip is a Java Card with the JMRTD applet.)
func (c *Chip) selectFileNoFS(cmd command) []byte {
	if (cmd.p1 != 0x00 && cmd.p1 != 0x02) || (cmd.p2 != 0x00 && cmd.p2 != 0x0C) {
		return status(swIncorrectP1P2)
	}
	if len(cmd.data) != 2 && !(cmd.p1 == 0x00 && len(cmd.data) == 0) {
		return status(swWrongLength)
	}
	return status(swFileNotFound)
}

func (c *Chip) tracef(format string, args ...any) {
	if c.trace == nil {
		return
	}
	fmt.Fprintf(c.trace, "emrtd %s: %s\n", serialOf(&c.cplc), fmt.Sprintf(format, args...))
}

// traceAPDU logs the header, lengths and status word of one exchange. Data
// never appears: PUT DATA carries the MRZ and keys, EXTERNAL AUTHENTICATE the
// BAC cryptogram.
func (c *Chip) traceAPDU(raw []byte, cmd command, parsed bool, resp []byte, err error) {
	if c.trace == nil {
		return
	}
	var in string
	if parsed {
		le := "-"
		if cmd.hasLe {
			le = fmt.Sprint(cmd.ne)
		}
		ext := ""
		if cmd.extended {
			ext = " ext"
		}
		in = fmt.Sprintf("%s Lc=%d Le=%s%s", cmd.header(), len(cmd.data), le, ext)
	} else {
		in = fmt.Sprintf("malformed APDU of %d bytes", len(raw))
	}
	if c.traceInner != "" {
		in += " [" + c.traceInner + "]"
	}
	var out string
	switch {
	case err != nil:
		out = err.Error()
	case len(resp) >= 2:
		out = fmt.Sprintf("%02X%02X, %d data bytes", resp[len(resp)-2], resp[len(resp)-1], len(resp)-2)
	}
	c.tracef("#%d %s -> %s", c.apdus, in, out)
}
