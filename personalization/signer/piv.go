package signer

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/ebfe/scard"
	"github.com/go-piv/piv-go/v2/piv"
)

// pivSigner keeps the DS key in a PIV token (a YubiKey; slot 9C by default)
// through github.com/go-piv/piv-go/v2.
//
// piv-go holds the card exclusively from Open to Close, so one mutex
// serializes Sign and Check on the open *piv.YubiKey.
//
// Failure handling, the reason this type exists:
//   - The first PIN the token refuses latches ErrWrongPIN (or ErrPINBlocked):
//     nothing is retried and no further retries are burnt; the station must
//     fix the PIN source and reopen the backend.
//   - When the token cannot be reached (pulled out, reader or pcscd gone),
//     the connection is dropped and Sign and Check return ErrTokenAbsent;
//     Check looks for the token again (by serial) and the backend resumes
//     without a restart.
type pivSigner struct {
	serial uint32   // the token's serial (resolved at open when configured as 0)
	slot   piv.Slot // key and certificate slot
	pin    string   // never logged or put in an error; see String and LogValue
	cert   *x509.Certificate

	mu      sync.Mutex
	yk      *piv.YubiKey // nil while the token is absent
	reader  string       // where the token was last found
	key     crypto.Signer
	latched error // ErrWrongPIN / ErrPINBlocked: refuse everything until reopened
	closed  bool
}

var pivSlots = map[string]piv.Slot{
	"9a": piv.SlotAuthentication,
	"9c": piv.SlotSignature,
	"9d": piv.SlotKeyManagement,
	"9e": piv.SlotCardAuthentication,
}

func openPIV(ctx context.Context, cfg Config) (Signer, error) {
	name := strings.ToLower(strings.TrimPrefix(cfg.Slot, "0x"))
	if name == "" {
		name = "9c"
	}
	slot, ok := pivSlots[name]
	if !ok {
		return nil, fmt.Errorf("signer: piv slot %q: must be one of 9a, 9c, 9d, 9e", cfg.Slot)
	}
	pin, err := readPIN(cfg)
	if err != nil {
		return nil, err
	}
	if len(pin) > 8 {
		return nil, errors.New("signer: piv PIN: longer than 8 bytes")
	}
	s := &pivSigner{serial: cfg.Serial, slot: slot, pin: pin}
	if cfg.CertFile != "" {
		if s.cert, err = LoadCertificate(cfg.CertFile); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.connect(ctx); err != nil {
		return nil, err
	}
	if s.latched != nil {
		s.disconnect()
		return nil, s.latched
	}
	return s, nil
}

// connect finds the token, opens it, and binds the slot's key: the
// certificate (from the slot unless given in a file) must hold the key the
// slot attests to. Called with s.mu held.
func (s *pivSigner) connect(ctx context.Context) error {
	yk, reader, serial, err := findPIVToken(ctx, s.serial, s.reader)
	if err != nil {
		return err
	}
	if s.serial == 0 {
		s.serial = serial // from now on, this token and no other
	}
	if err := s.bind(yk); err != nil {
		yk.Close()
		return err
	}
	s.yk, s.reader = yk, reader
	// An empty VERIFY reports the retry counter without spending a try.
	if n, err := yk.Retries(); err == nil && n == 0 {
		s.latched = fmt.Errorf("signer: piv token %d: %w", serial, ErrPINBlocked)
	}
	return nil
}

// bind checks the slot and opens its private key. On reconnection the
// certificate bound at open must still be for the slot's key (the token was
// not rekeyed meanwhile). Called with s.mu held.
func (s *pivSigner) bind(yk *piv.YubiKey) error {
	where := fmt.Sprintf("piv token %d slot %s", s.serial, s.slot)
	// YubiKey attestation (firmware 4.3+) proves which public key the slot
	// holds; piv-go reads the key's PIN policy from it as well.
	var slotKey crypto.PublicKey
	att, err := yk.Attest(s.slot) // an old or non-Yubico token answers 6D00: then only Sign's check holds
	switch {
	case errors.Is(err, piv.ErrNotFound):
		return fmt.Errorf("signer: %s: no key: %w", where, ErrNoKey)
	case err != nil && isTransportError(err):
		return s.classify("attesting the slot", err)
	case err == nil:
		slotKey = att.PublicKey
	}
	cert := s.cert
	if cert == nil {
		if cert, err = yk.Certificate(s.slot); errors.Is(err, piv.ErrNotFound) {
			return fmt.Errorf("signer: %s: no certificate and no cert_file: %w", where, ErrNoKey)
		} else if err != nil {
			return s.classify("reading the certificate", err)
		}
	}
	if slotKey != nil && !samePublicKey(slotKey, cert.PublicKey) {
		return fmt.Errorf("signer: %s: the DS certificate %q is not for the key in the slot: %w", where, cert.Subject, ErrNoKey)
	}
	priv, err := yk.PrivateKey(s.slot, cert.PublicKey, piv.KeyAuth{PIN: s.pin})
	if err != nil {
		return s.classify("opening the private key", err)
	}
	key, ok := priv.(crypto.Signer)
	if !ok {
		return fmt.Errorf("signer: %s: key type %T cannot sign", where, priv)
	}
	if s.cert == nil {
		s.cert = cert // set once, at open: Public and Certificate read it unlocked
	}
	s.key = key
	return nil
}

// findPIVToken opens the PIV token with the serial (0: the only one
// present), trying the reader where it was last seen first.
//
// piv.Open on a card that is not a PIV token fails its SELECT and leaves that
// card connected exclusively (piv-go v2.6.0 closes neither the handle nor the
// context on that path), which would lock an eMRTD chip away from its reader
// worker. So each reader is first probed through a short shared connection,
// and only cards that answer SELECT of the PIV AID are opened with piv-go.
func findPIVToken(ctx context.Context, want uint32, prefer string) (*piv.YubiKey, string, uint32, error) {
	readers, err := pivCandidates(prefer)
	if err != nil {
		return nil, "", 0, fmt.Errorf("signer: looking for piv token %s: %w (%v)", serialText(want), ErrTokenAbsent, err)
	}
	var (
		keep       *piv.YubiKey
		keepReader string
		keepSerial uint32
		matches    int
		seen, busy []string
	)
	for _, r := range readers {
		if err := ctx.Err(); err != nil {
			if keep != nil {
				keep.Close()
			}
			return nil, "", 0, fmt.Errorf("signer: looking for piv token %s: %w", serialText(want), err)
		}
		yk, err := piv.Open(r)
		if err != nil {
			busy = append(busy, r) // held by another program, or gone since the probe
			continue
		}
		sn, err := yk.Serial()
		if err != nil || (want != 0 && sn != want) {
			if err == nil {
				seen = append(seen, fmt.Sprint(sn))
			}
			yk.Close()
			continue
		}
		seen = append(seen, fmt.Sprint(sn))
		matches++
		if keep == nil {
			keep, keepReader, keepSerial = yk, r, sn
			if want != 0 && r == prefer {
				break // found where it was: no need to open the others
			}
		} else {
			yk.Close()
		}
	}
	switch {
	case matches == 0:
		msg := fmt.Sprintf("no piv token %s among %d reader(s) with a PIV card (serials found: [%s])",
			serialText(want), len(readers), strings.Join(seen, " "))
		if len(busy) > 0 {
			msg += fmt.Sprintf("; in use by another program: %q", busy)
		}
		return nil, "", 0, fmt.Errorf("signer: %s: %w", msg, ErrTokenAbsent)
	case matches > 1:
		keep.Close()
		if want == 0 {
			return nil, "", 0, fmt.Errorf("signer: several piv tokens present (serials [%s]): set serial to choose one", strings.Join(seen, " "))
		}
		return nil, "", 0, fmt.Errorf("signer: %d piv tokens report serial %d", matches, want)
	}
	return keep, keepReader, keepSerial, nil
}

func serialText(n uint32) string {
	if n == 0 {
		return "(any serial)"
	}
	return fmt.Sprintf("with serial %d", n)
}

// pivAIDSelect is SELECT of the PIV Card Application by its right-truncated
// AID (NIST SP 800-73-4 Part 2 §3.1.1).
var pivAIDSelect = []byte{0x00, 0xa4, 0x04, 0x00, 0x05, 0xa0, 0x00, 0x00, 0x03, 0x08}

// pivCandidates lists the readers whose card answers SELECT of the PIV AID,
// prefer first. Empty readers, mute cards and cards another program holds
// exclusively are skipped without connecting.
func pivCandidates(prefer string) ([]string, error) {
	c, err := scard.EstablishContext()
	if err != nil {
		return nil, fmt.Errorf("connecting to pcscd: %w", err)
	}
	defer c.Release()
	names, err := c.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("listing readers: %w", err)
	}
	if i := slices.Index(names, prefer); i > 0 {
		names[0], names[i] = names[i], names[0]
	}
	states := make([]scard.ReaderState, len(names))
	for i, n := range names {
		states[i] = scard.ReaderState{Reader: n, CurrentState: scard.StateUnaware}
	}
	if err := c.GetStatusChange(states, 0); err != nil && !errors.Is(err, scard.ErrTimeout) {
		return nil, fmt.Errorf("reading reader states: %w", err)
	}
	var out []string
	for _, st := range states {
		ev := st.EventState
		if ev&scard.StatePresent == 0 || ev&(scard.StateExclusive|scard.StateMute) != 0 {
			continue
		}
		card, err := c.Connect(st.Reader, scard.ShareShared, scard.ProtocolT1)
		if err != nil {
			continue
		}
		rsp, err := card.Transmit(pivAIDSelect)
		card.Disconnect(scard.LeaveCard)
		if err == nil && len(rsp) >= 2 && (rsp[len(rsp)-2] == 0x90 && rsp[len(rsp)-1] == 0x00 || rsp[len(rsp)-2] == 0x61) {
			out = append(out, st.Reader)
		}
	}
	return out, nil
}

// isTransportError reports whether err is a failure to talk to the token at
// all, as opposed to the token answering with a status word.
func isTransportError(err error) bool {
	var sw interface{ Status() uint16 }
	var auth piv.AuthErr
	return !errors.As(err, &sw) && !errors.As(err, &auth)
}

// classify turns a piv-go error into the package's errors. A refused PIN
// latches; a transport failure drops the connection. Called with s.mu held.
func (s *pivSigner) classify(doing string, err error) error {
	var auth piv.AuthErr
	switch {
	case errors.As(err, &auth) && auth.Retries == 0:
		s.latched = fmt.Errorf("signer: piv token %d: %s: the PIN is blocked (unblock it with the PUK): %w", s.serial, doing, ErrPINBlocked)
		return s.latched
	case errors.As(err, &auth):
		s.latched = fmt.Errorf("signer: piv token %d: %s: the token refused the PIN, %d retries left; not trying again until the backend is reopened: %w",
			s.serial, doing, auth.Retries, ErrWrongPIN)
		return s.latched
	case isTransportError(err):
		s.disconnect()
		return fmt.Errorf("signer: piv token %d: %s: %w (%v)", s.serial, doing, ErrTokenAbsent, err)
	}
	return fmt.Errorf("signer: piv token %d: %s: %w", s.serial, doing, err)
}

func (s *pivSigner) disconnect() {
	if s.yk != nil {
		s.yk.Close()
	}
	s.yk, s.key = nil, nil
}

// usable says why the key cannot be used now, if it cannot. Called with s.mu held.
func (s *pivSigner) usable() error {
	switch {
	case s.closed:
		return errors.New("signer: piv backend closed")
	case s.latched != nil:
		return s.latched
	case s.yk == nil:
		return fmt.Errorf("signer: piv token %d: %w", s.serial, ErrTokenAbsent)
	}
	return nil
}

func (s *pivSigner) Public() crypto.PublicKey { return s.cert.PublicKey }

// Sign signs the digest in the token. The PIN is presented as the key's PIN
// policy asks (piv-go learns it from the attestation). An ECDSA signature is
// checked against the DS certificate before it is returned: a signature that
// does not verify would make every document issued with it unreadable.
func (s *pivSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	sig, err := s.key.Sign(r, digest, opts)
	if err != nil {
		return nil, s.classify("signing", err)
	}
	if pub, ok := s.cert.PublicKey.(*ecdsa.PublicKey); ok && !ecdsa.VerifyASN1(pub, digest, sig) {
		return nil, fmt.Errorf("signer: piv token %d: the signature does not verify against the DS certificate", s.serial)
	}
	return sig, nil
}

func (s *pivSigner) Certificate() *x509.Certificate { return s.cert }

// Check asks the token for its serial number (one APDU). When the token is
// not connected, or does not answer, it looks for it again by serial.
func (s *pivSigner) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.latched != nil {
		return s.usable()
	}
	if s.yk != nil {
		_, err := s.yk.Serial()
		if err == nil {
			return nil
		}
		if err := s.classify("checking the token", err); s.yk != nil {
			return err // the token answered, but not as expected
		}
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	return s.usable()
}

func (s *pivSigner) Backend() string { return "piv" }

func (s *pivSigner) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.yk == nil {
		return nil
	}
	err := s.yk.Close()
	s.yk, s.key = nil, nil
	return err
}

// String and LogValue show which token and slot, never the PIN.
func (s *pivSigner) String() string {
	return fmt.Sprintf("piv signer (token %d, slot %s)", s.serial, s.slot)
}

func (s *pivSigner) LogValue() slog.Value {
	return slog.GroupValue(slog.String("backend", "piv"), slog.Uint64("serial", uint64(s.serial)), slog.String("slot", s.slot.String()))
}

// GoString keeps %#v from printing the fields (the PIN among them).
func (s *pivSigner) GoString() string { return s.String() }
