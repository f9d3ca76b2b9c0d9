package personalization

import (
	"context"
	"crypto/rand"
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
	StepWrite    Step = "write"    // create, write, read back and compare
	StepSeal     Step = "seal"     // key seed, AA key, lock — irreversible
	StepVerify   Step = "verify"   // reset, then read as a border terminal
)

// Failure is a personalization that did not end verified. Card says what
// the card is now: a blank card can take the job again; a written or locked
// one (or one that went away after writing began) is spoiled.
type Failure struct {
	Step   Step
	Card   CardState
	Serial string // "" when it could not be read
	Err    error
	Report *Report // for verification failures
}

func (f *Failure) Error() string {
	return fmt.Sprintf("%s failed (card %s): %v", f.Step, f.Card, f.Err)
}

func (f *Failure) Unwrap() error { return f.Err }

// Refused reports a pre-check refusal: nothing was written to the card. A
// blank card may take the job again; any other is set aside as it came.
func (f *Failure) Refused() bool { return f.Step == StepPrecheck }

// Spoiled reports whether this station consumed the card: writing began,
// so the card is void (reported with its serial) whatever it holds.
func (f *Failure) Spoiled() bool { return f.Step != StepPrecheck }

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
}

// Engine personalizes one card at a time. It is safe to share between
// reader workers: it keeps no per-card state.
type Engine struct {
	Profile Profile
	CSCAs   []*x509.Certificate // trust anchors of the verification
	Now     func() time.Time
	Rand    io.Reader
	// ReadSerial reads the chip serial (default pcsc.ReadSerial: CPLC,
	// then the contactless UID).
	ReadSerial func(pcsc.Transport) (string, error)
	// Progress, if set, is told each step as it starts.
	Progress func(Step, string)
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
	p, err := e.Profile.Identify(card.ATR())
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
	state, err := e.Profile.Inspect(card)
	if err != nil {
		return p, serial, CardUnknown, err
	}
	return p, serial, state, nil
}

// Personalize takes one card from blank to verified (chip-data.md §8, §9):
// pre-checks (ATR, serial, blank), then Run. On failure the error is a
// *Failure saying the step and what the card is now.
func (e *Engine) Personalize(ctx context.Context, card Card, im *lds.Image) (*Result, error) {
	ct := &counting{t: card}
	start := time.Now()
	product, serial, err := e.Precheck(&countingCard{ct, card}, im)
	if err != nil {
		return nil, err
	}
	pre := StepTiming{Step: StepPrecheck, Duration: time.Since(start), APDUs: ct.n}
	res, err := e.Run(ctx, card, product, serial, im, Hooks{})
	if res != nil {
		res.Steps = append([]StepTiming{pre}, res.Steps...)
		res.APDUs += pre.APDUs
	}
	return res, err
}

// Precheck identifies the card (product by ATR, serial) and refuses it
// unless it is blank and can take the image. Nothing is written. A refusal
// is a *Failure with Step StepPrecheck.
func (e *Engine) Precheck(card Card, im *lds.Image) (Product, string, error) {
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
	case im == nil || im.AAKey == nil:
		return refuse(CardBlank, errors.New("the chip image has no Active Authentication key"))
	case im.AAKey.N.BitLen() > product.MaxAAKeyBits:
		return refuse(CardBlank, fmt.Errorf("%w: %s takes RSA keys up to %d bits, the image has %d", ErrWrongStock, product.Name, product.MaxAAKeyBits, im.AAKey.N.BitLen()))
	}
	return product, serial, nil
}

// Run writes, seals and verifies a card that Precheck (or Identify) found
// blank just before, on the same connection. A cancelled ctx stops the work
// only before the first write: once writing began, the card is finished (or
// fails) so that it is never left half-done by choice. Hooks run at their
// points: BeforeWrite must make the coming write durable knowledge (an
// error leaves the card blank and untouched); AfterSeal records that the
// card is locked (see Hooks). im.AAKey is wiped once injected.
func (e *Engine) Run(ctx context.Context, card Card, product Product, serial string, im *lds.Image, h Hooks) (*Result, error) {
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
	fail := func(s Step, state CardState, err error) (*Result, error) {
		return nil, &Failure{Step: s, Card: state, Serial: serial, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return fail(StepPrecheck, CardBlank, err)
	}
	if h.BeforeWrite != nil {
		if err := h.BeforeWrite(); err != nil {
			return fail(StepPrecheck, CardBlank, fmt.Errorf("before writing: %w", err))
		}
	}

	// Write and read back. From the first CREATE FILE on, the card is ours:
	// a failure leaves it written (or unknown, if it went away).
	begin(StepWrite, fmt.Sprintf("%d files", len(im.Files)))
	if err := e.Profile.Write(ct, product, im); err != nil {
		return fail(StepWrite, stateAfterError(err, CardWritten), err)
	}
	end(StepWrite)

	// Seal: irreversible.
	begin(StepSeal, "MRZ key seed, AA key, lock")
	if err := e.Profile.Seal(ct, product, im); err != nil {
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
	begin(StepVerify, "reset, BAC, secure messaging reads, passive and active authentication")
	if err := card.Reset(); err != nil {
		return fail(StepVerify, stateAfterError(err, CardLocked), fmt.Errorf("reset: %w", err))
	}
	rep, err := Verify(ct, im.BAC(), VerifyOptions{
		CSCAs: e.CSCAs, Expected: im, ExpectLocked: true,
		MaxResponseData: product.MaxResponseData, ExtendedLength: product.ExtendedLength,
		Now: now, Rand: rnd,
	})
	if err != nil {
		return nil, &Failure{Step: StepVerify, Card: stateAfterError(err, CardLocked), Serial: serial, Err: err, Report: rep}
	}
	end(StepVerify)
	res.Report, res.DSCert, res.SODHash, res.APDUs = rep, rep.DSCert, rep.SODHash, ct.n
	return res, nil
}

// countingCard lets Identify count its APDUs while keeping the ATR.
type countingCard struct {
	*counting
	card Card
}

func (c *countingCard) ATR() []byte  { return c.card.ATR() }
func (c *countingCard) Reset() error { return c.card.Reset() }

// stateAfterError: when the card left the reader (or pcscd or the reader
// went away) its state is unknown; otherwise it is what the step leaves.
func stateAfterError(err error, otherwise CardState) CardState {
	if errors.Is(err, pcsc.ErrCardRemoved) || errors.Is(err, pcsc.ErrReaderGone) ||
		errors.Is(err, pcsc.ErrNoService) || errors.Is(err, pcsc.ErrCardMute) || errors.Is(err, pcsc.ErrCardReset) {
		return CardUnknown
	}
	return otherwise
}
