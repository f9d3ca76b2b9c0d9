package personalization

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/lds"
)

// Card is what the engine needs of a connected card (*pcsc.Card has it).
type Card interface {
	pcsc.Transport
	ATR() []byte
	// Reset warm-resets the card: its volatile state is lost.
	Reset() error
}

// Step names a stage of personalization.
type Step string

const (
	StepPrecheck Step = "precheck" // ATR, serial, blank
	StepOpen     Step = "open"     // select; the SCP03 session of the cccd profile
	StepWrite    Step = "write"    // create, write, read back and compare
	StepKeys     Step = "keys"     // the Active Authentication (and Chip Authentication) keys made
	StepSign     Step = "sign"     // DG14, DG15, EF.COM and EF.SOD made, EF.SOD signed
	StepSeal     Step = "seal"     // access secrets, a station-made key, lock — irreversible
	StepVerify   Step = "verify"   // reset, then read as a border terminal
)

// Failure is a personalization that did not end verified. Card says what
// the card is now: a blank card can take the job again; one that writing
// began on is spoiled (whatever it holds, or if it went away).
type Failure struct {
	Step   Step
	Card   CardState
	Serial string // "" when it could not be read
	Err    error
	Report *Report // for verification failures
	// WriteBegan: the first write to the card was sent (the card is the
	// station's: spoiled on failure).
	WriteBegan bool
}

func (f *Failure) Error() string {
	return fmt.Sprintf("%s failed (card %s): %v", f.Step, f.Card, f.Err)
}

func (f *Failure) Unwrap() error { return f.Err }

// Refused reports a failure before the first write: nothing was written to
// the card. A blank card may take the job again; any other is set aside as
// it came.
func (f *Failure) Refused() bool { return !f.WriteBegan }

// Spoiled reports whether this station consumed the card: writing began,
// so the card is void (reported with its serial) whatever it holds.
func (f *Failure) Spoiled() bool { return f.WriteBegan }

// StepTiming is how long a step took and how many APDUs it sent.
type StepTiming struct {
	Step     Step          `json:"step"`
	Duration time.Duration `json:"duration_ns"`
	APDUs    int           `json:"apdus"`
}

// Result is a verified card.
type Result struct {
	Serial  string
	ATR     []byte
	Product string
	DSCert  *x509.Certificate
	SODHash []byte
	Steps   []StepTiming
	APDUs   int
	Report  *Report
	// SignWait is how long the card waited for its EF.SOD signature.
	SignWait time.Duration
	// Image is what was written (its station-made key wiped).
	Image *lds.Image
}

// Engine personalizes one card at a time. It is safe to share between
// reader workers: it keeps no per-card state.
type Engine struct {
	// Stock is the card stock: products by ATR with their profiles.
	Stock *Stock
	// Signer is the Document Signer, DSCert its certificate: each chip's
	// EF.SOD is signed on the card's path, once its keys are known.
	Signer crypto.Signer
	DSCert *x509.Certificate
	CSCAs  []*x509.Certificate // trust anchors of the verification
	Now    func() time.Time
	Rand   io.Reader
	// ReadSerial reads the chip serial (default pcsc.ReadSerial: CPLC,
	// then the contactless UID).
	ReadSerial func(pcsc.Transport) (string, error)
	// Progress, if set, is told each step as it starts.
	Progress func(Step, string)
	// Keys, if set, has station-made keys ready (jmrtd); otherwise each
	// is made on the card's path (from Rand).
	Keys *KeyPool
}

// Hooks are the caller's durable records at the two points that matter for
// crash recovery (see Run).
type Hooks struct {
	// BeforeWrite runs just before the first write to the card: an error
	// leaves the card blank and untouched.
	BeforeWrite func() error
	// AfterSeal runs just after the lock.
	AfterSeal func() error
}

// counting counts APDUs through a transport.
type counting struct {
	t pcsc.Transport
	n int
}

func (c *counting) Transmit(b []byte) ([]byte, error) {
	c.n++
	return c.t.Transmit(b)
}

// Identify reads what the card is without changing it: the product by ATR,
// the serial, and its state. The worker's crash recovery uses it too.
func (e *Engine) Identify(card Card) (Product, string, CardState, error) {
	p, prof, err := e.Stock.Identify(card.ATR())
	if err != nil {
		return Product{}, "", CardUnknown, err
	}
	readSerial := e.ReadSerial
	if readSerial == nil {
		readSerial = pcsc.ReadSerial
	}
	serial, err := readSerial(card)
	if err != nil {
		return p, "", CardUnknown, fmt.Errorf("reading the chip serial: %w", err)
	}
	state, err := prof.Inspect(card)
	if err != nil {
		return p, serial, CardUnknown, err
	}
	return p, serial, state, nil
}

// Personalize takes one card from blank to verified (chip-data.md §8, §9;
// cccd.md): pre-checks (ATR, serial, blank), then Run. On failure the error
// is a *Failure saying the step and what the card is now.
func (e *Engine) Personalize(ctx context.Context, card Card, c *lds.Content) (*Result, error) {
	ct := &counting{t: card}
	start := time.Now()
	product, serial, err := e.Precheck(&countingCard{ct, card})
	if err != nil {
		return nil, err
	}
	pre := StepTiming{Step: StepPrecheck, Duration: time.Since(start), APDUs: ct.n}
	res, err := e.Run(ctx, card, product, serial, c, Hooks{})
	if res != nil {
		res.Steps = append([]StepTiming{pre}, res.Steps...)
		res.APDUs += pre.APDUs
	}
	return res, err
}

// Precheck identifies the card (product by ATR, serial) and refuses it
// unless it is blank. Nothing is written. A refusal is a *Failure with Step
// StepPrecheck.
func (e *Engine) Precheck(card Card) (Product, string, error) {
	if e.Progress != nil {
		e.Progress(StepPrecheck, "ATR, chip serial, blank")
	}
	product, serial, state, err := e.Identify(card)
	refuse := func(state CardState, err error) (Product, string, error) {
		return product, serial, &Failure{Step: StepPrecheck, Card: state, Serial: serial, Err: err}
	}
	switch {
	case err != nil:
		return refuse(state, err)
	case state == CardLocked:
		return refuse(CardLocked, ErrLocked)
	case state == CardWritten:
		return refuse(CardWritten, ErrNotBlank)
	}
	return product, serial, nil
}

// Run personalizes a card that Precheck (or Identify) found blank just
// before, on the same connection, with the product's profile, through the
// same steps for every profile:
//
//   - keys and sign, for a profile whose chips take a station-made key
//     (JMRTD): the key is made and the security objects signed before the
//     card is touched, so that a failure there leaves it blank;
//   - open (cccd: the SCP03 session), then BeforeWrite;
//   - write the files known so far, each read back;
//   - keys, for a chip that makes its own (cccd): its public keys come back;
//   - sign: DG14, DG15, EF.COM and EF.SOD made from them and signed (the
//     Document Signer's token pulled out mid-card fails here, typed
//     ErrSign wrapping signer.ErrTokenAbsent: the card is spoiled, the
//     station pauses issuance), then written, EF.SOD last;
//   - seal: the access secrets, a station-made key, the lock; AfterSeal;
//   - verify: reset, and read as a border terminal would.
//
// A cancelled ctx stops the work only before the first write: once writing
// began, the card is finished (or fails) so that it is never left half-done
// by choice. The station-made key is wiped once injected.
func (e *Engine) Run(ctx context.Context, card Card, product Product, serial string, c *lds.Content, h Hooks) (*Result, error) {
	now := e.Now
	if now == nil {
		now = time.Now
	}
	rnd := e.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	ct := &counting{t: card}
	res := &Result{ATR: card.ATR(), Serial: serial, Product: product.Name}
	var stepStart time.Time
	var stepAPDUs int
	begin := func(s Step, what string) {
		stepStart, stepAPDUs = time.Now(), ct.n
		if e.Progress != nil {
			e.Progress(s, what)
		}
	}
	end := func(s Step) {
		res.Steps = append(res.Steps, StepTiming{Step: s, Duration: time.Since(stepStart), APDUs: ct.n - stepAPDUs})
	}
	writeBegan := false
	fail := func(s Step, state CardState, err error) (*Result, error) {
		if isUnreachable(err) {
			state = CardUnknown
		}
		return nil, &Failure{Step: s, Card: state, Serial: serial, Err: err, WriteBegan: writeBegan}
	}
	prof, ok := e.Stock.Profile(product.ProfileName())
	if !ok {
		return fail(StepPrecheck, CardBlank, fmt.Errorf("%w: no profile %s", ErrUnknownChip, product.ProfileName()))
	}
	if err := ctx.Err(); err != nil {
		return fail(StepPrecheck, CardBlank, err)
	}
	finish := func(keys ChipKeys, aaKey *rsa.PrivateKey) (*lds.Image, error) {
		begin(StepSign, "DG14, DG15, EF.COM, EF.SOD signed")
		o := FinishOptions{AA: keys.AA, AAKey: aaKey, Signer: e.Signer, DSCert: e.DSCert, Now: now, Rand: rnd}
		var err error
		if o.CardAccess, o.DG14, err = SecurityObjects(product, keys); err != nil {
			return nil, err
		}
		t0 := time.Now()
		im, err := Finish(c, o)
		res.SignWait = time.Since(t0)
		end(StepSign)
		return im, err
	}

	// A station-made key: made, and everything signed, before the card is
	// touched.
	var im *lds.Image
	if !prof.ChipMakesKeys() {
		begin(StepKeys, string(product.AAKey)+" made by the station")
		var aaKey *rsa.PrivateKey
		var err error
		if e.Keys != nil {
			aaKey, err = e.Keys.Take(product.AAKey.RSABits())
		} else {
			aaKey, err = rsa.GenerateKey(rnd, product.AAKey.RSABits())
		}
		if err != nil {
			return fail(StepKeys, CardBlank, fmt.Errorf("%w: %w", ErrKeyGeneration, err))
		}
		end(StepKeys)
		if im, err = finish(ChipKeys{}, aaKey); err != nil {
			return fail(StepSign, CardBlank, err)
		}
		defer im.WipeAAKey()
	}

	begin(StepOpen, "select, secure channel")
	t, err := prof.Open(ct, product, serial, rnd)
	if err != nil {
		return fail(StepOpen, CardBlank, err)
	}
	end(StepOpen)
	if h.BeforeWrite != nil {
		if err := h.BeforeWrite(); err != nil {
			return fail(StepPrecheck, CardBlank, fmt.Errorf("before writing: %w", err))
		}
	}

	// Write and read back. From the first CREATE FILE on, the card is ours:
	// a failure leaves it written (or unknown, if it went away).
	writeBegan = true
	written := map[lds.FID]bool{}
	write := func(files []lds.File) error {
		for _, f := range files {
			if written[f.FID] {
				continue
			}
			if err := prof.WriteFile(t, product, f); err != nil {
				return err
			}
			written[f.FID] = true
		}
		return nil
	}
	if im == nil {
		// The chip makes its keys: what is known before them first.
		var first []lds.File
		ca, err := CardAccess(product)
		if err != nil {
			return fail(StepWrite, CardBlank, err)
		}
		if ca != nil {
			first = append(first, lds.File{FID: lds.FIDCardAccess, Name: "EF.CardAccess", Data: ca})
		}
		first = append(first, c.Files...)
		begin(StepWrite, fmt.Sprintf("%d files", len(first)))
		if err := write(first); err != nil {
			return fail(StepWrite, stateAfterError(err, CardWritten), err)
		}
		end(StepWrite)
		begin(StepKeys, "key pairs made on the chip")
		keys, err := prof.GenerateKeys(t, product)
		if err != nil {
			return fail(StepKeys, CardWritten, err)
		}
		end(StepKeys)
		if im, err = finish(keys, nil); err != nil {
			return fail(StepSign, CardWritten, err)
		}
	}
	begin(StepWrite, fmt.Sprintf("%d files", len(im.Files)-len(written)))
	if err := write(im.Files); err != nil {
		return fail(StepWrite, stateAfterError(err, CardWritten), err)
	}
	end(StepWrite)

	// Seal: irreversible.
	begin(StepSeal, "access secrets, keys, lock")
	if err := prof.Seal(t, product, im); err != nil {
		// Whether the lock took effect is not known unless the chip
		// answered: the card is spoiled either way.
		return fail(StepSeal, stateAfterError(err, CardWritten), err)
	}
	end(StepSeal)
	if h.AfterSeal != nil {
		if err := h.AfterSeal(); err != nil {
			return fail(StepVerify, CardLocked, fmt.Errorf("after sealing: %w", err))
		}
	}

	// Verify as a reader would.
	begin(StepVerify, "reset, then read as a border terminal")
	if err := card.Reset(); err != nil {
		return fail(StepVerify, stateAfterError(err, CardLocked), fmt.Errorf("reset: %w", err))
	}
	v := VerifierFor(product)
	v.CSCAs, v.Expected, v.ExpectLocked, v.Now, v.Rand = e.CSCAs, im, true, now, rnd
	rep, err := v.Verify(ct, AccessKeys{BAC: im.BAC(), CAN: im.CAN})
	if err != nil {
		return nil, &Failure{Step: StepVerify, Card: stateAfterError(err, CardLocked), Serial: serial, Err: err, Report: rep, WriteBegan: true}
	}
	end(StepVerify)
	res.Report, res.DSCert, res.SODHash, res.APDUs, res.Image = rep, rep.DSCert, rep.SODHash, ct.n, im
	return res, nil
}

// countingCard lets Identify count its APDUs while keeping the ATR.
type countingCard struct {
	*counting
	card Card
}

func (c *countingCard) ATR() []byte  { return c.card.ATR() }
func (c *countingCard) Reset() error { return c.card.Reset() }

// isUnreachable: the card is gone, or there but mute — what it holds now
// cannot be known.
func isUnreachable(err error) bool {
	return pcsc.Gone(err) || errors.Is(err, pcsc.ErrCardMute)
}

// stateAfterError: when the card cannot be reached its state is unknown;
// otherwise it is what the step leaves.
func stateAfterError(err error, otherwise CardState) CardState {
	if isUnreachable(err) {
		return CardUnknown
	}
	return otherwise
}
