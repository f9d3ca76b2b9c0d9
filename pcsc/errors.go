package pcsc

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/ebfe/scard"
)

// Errors callers decide on. Every error of this package that comes from
// pcscd or a card wraps one of them (errors.Is), inside an *OpError that says
// which reader and which operation.
var (
	// ErrNoService: pcscd is not running, or went away during the call
	// (SCARD_E_NO_SERVICE, SCARD_E_SERVICE_STOPPED, SCARD_F_COMM_ERROR).
	ErrNoService = errors.New("pcscd is not running (no PC/SC service)")
	// ErrReaderGone: the reader is not (or no longer) known to pcscd
	// (SCARD_E_UNKNOWN_READER, SCARD_E_READER_UNAVAILABLE,
	// SCARD_E_NO_READERS_AVAILABLE).
	ErrReaderGone = errors.New("reader gone")
	// ErrCardRemoved: the card left the reader during the connection
	// (SCARD_W_REMOVED_CARD).
	ErrCardRemoved = errors.New("card removed")
	// ErrCardReset: the card was reset by someone else during the connection
	// (SCARD_W_RESET_CARD); its volatile state is gone.
	ErrCardReset = errors.New("card was reset")
	// ErrNoCard: there is no card in the reader (SCARD_E_NO_SMARTCARD).
	ErrNoCard = errors.New("no card in the reader")
	// ErrCardMute: a card is there but does not answer, or is unpowered
	// (SCARD_W_UNRESPONSIVE_CARD, SCARD_W_UNPOWERED_CARD, and
	// SCARD_E_NOT_TRANSACTED when the card is still in the reader).
	ErrCardMute = errors.New("card does not answer")
	// ErrCardUnsupported: the card speaks no protocol the reader offers
	// (SCARD_E_PROTO_MISMATCH, SCARD_W_UNSUPPORTED_CARD,
	// SCARD_E_CARD_UNSUPPORTED).
	ErrCardUnsupported = errors.New("card not supported")
	// ErrSharingViolation: another application holds the card
	// (SCARD_E_SHARING_VIOLATION).
	ErrSharingViolation = errors.New("card in use by another application (sharing violation)")
	// ErrTimeout: the wait ended before anything happened (SCARD_E_TIMEOUT).
	ErrTimeout = errors.New("timeout")
	// ErrCancelled: the call was cancelled (SCARD_E_CANCELLED).
	ErrCancelled = errors.New("cancelled")

	// ErrExtendedLength: the command needs extended Lc/Le (ISO/IEC 7816-4
	// §5.1) but the card does not declare them (ATR card capabilities,
	// §8.1.1.2.7). Refused locally: the command was never sent.
	ErrExtendedLength = errors.New("command needs extended length, which the card does not declare")
	// ErrBadCommand: the bytes given are not a well-formed command APDU
	// (ISO/IEC 7816-4 §5.1). Refused locally.
	ErrBadCommand = errors.New("malformed command APDU")
	// ErrBadResponse: the card answered something that is not a response
	// APDU (fewer than two bytes, or an endless 61xx chain).
	ErrBadResponse = errors.New("malformed response APDU")
	// ErrClosed: the connection was already closed by this process.
	ErrClosed = errors.New("connection closed")
)

// Gone reports whether err means the card is out of reach: it left the
// reader, the reader or the PC/SC service went away, there is no card, or
// someone else reset it (its session is lost). It is the one predicate every
// layer decides "card or reader gone" on; a card that is there but does not
// answer (ErrCardMute) is not gone.
func Gone(err error) bool {
	return errors.Is(err, ErrCardRemoved) || errors.Is(err, ErrReaderGone) || errors.Is(err, ErrNoService) ||
		errors.Is(err, ErrNoCard) || errors.Is(err, ErrCardReset)
}

// OpError is an error of one operation on one reader. Err wraps a sentinel of
// this package (and, when it came from pcscd, the scard.Error code).
type OpError struct {
	Op     string // "connect", "transmit", "reset", "disconnect", "list readers", "watch", ...
	Reader string // empty when the operation is not about one reader
	Err    error
}

func (e *OpError) Error() string {
	if e.Reader == "" {
		return "pcsc: " + e.Op + ": " + e.Err.Error()
	}
	return "pcsc: " + e.Op + " " + strconv.Quote(e.Reader) + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }

// codeError is a PC/SC return code with the sentinel it maps to; errors.Is
// matches both.
type codeError struct {
	sentinel error // nil when no sentinel applies
	code     scard.Error
}

func (e *codeError) Error() string {
	name := scardName(e.code)
	if e.sentinel == nil {
		return fmt.Sprintf("%s (%s)", e.code.Error(), name)
	}
	return fmt.Sprintf("%s (%s)", e.sentinel.Error(), name)
}

func (e *codeError) Unwrap() []error {
	if e.sentinel == nil {
		return []error{e.code}
	}
	return []error{e.sentinel, e.code}
}

// scardSentinels maps PC/SC return codes (PC/SC Part 5 §3.3, pcsc-lite
// pcsclite.h) to the errors callers decide on.
var scardSentinels = map[scard.Error]error{
	scard.ErrNoService:          ErrNoService,
	scard.ErrServiceStopped:     ErrNoService,
	scard.ErrCommError:          ErrNoService, // pcsc-lite: the socket to pcscd broke (pcscd stopped)
	scard.ErrNoReadersAvailable: ErrReaderGone,
	scard.ErrReaderUnavailable:  ErrReaderGone,
	scard.ErrUnknownReader:      ErrReaderGone,
	scard.ErrRemovedCard:        ErrCardRemoved,
	scard.ErrResetCard:          ErrCardReset,
	scard.ErrNoSmartcard:        ErrNoCard,
	scard.ErrUnpoweredCard:      ErrCardMute,
	scard.ErrUnresponsiveCard:   ErrCardMute,
	scard.ErrNotTransacted:      ErrCardMute, // the exchange broke and the card is still there
	scard.ErrProtoMismatch:      ErrCardUnsupported,
	scard.ErrUnsupportedCard:    ErrCardUnsupported,
	scard.ErrCardUnsupported:    ErrCardUnsupported,
	scard.ErrSharingViolation:   ErrSharingViolation,
	scard.ErrTimeout:            ErrTimeout,
	scard.ErrCancelled:          ErrCancelled,
	scard.ErrSystemCancelled:    ErrCancelled,
}

var scardNames = map[scard.Error]string{
	scard.ErrNoService:          "SCARD_E_NO_SERVICE",
	scard.ErrServiceStopped:     "SCARD_E_SERVICE_STOPPED",
	scard.ErrCommError:          "SCARD_F_COMM_ERROR",
	scard.ErrNoReadersAvailable: "SCARD_E_NO_READERS_AVAILABLE",
	scard.ErrReaderUnavailable:  "SCARD_E_READER_UNAVAILABLE",
	scard.ErrUnknownReader:      "SCARD_E_UNKNOWN_READER",
	scard.ErrRemovedCard:        "SCARD_W_REMOVED_CARD",
	scard.ErrResetCard:          "SCARD_W_RESET_CARD",
	scard.ErrNoSmartcard:        "SCARD_E_NO_SMARTCARD",
	scard.ErrUnpoweredCard:      "SCARD_W_UNPOWERED_CARD",
	scard.ErrUnresponsiveCard:   "SCARD_W_UNRESPONSIVE_CARD",
	scard.ErrProtoMismatch:      "SCARD_E_PROTO_MISMATCH",
	scard.ErrUnsupportedCard:    "SCARD_W_UNSUPPORTED_CARD",
	scard.ErrCardUnsupported:    "SCARD_E_CARD_UNSUPPORTED",
	scard.ErrSharingViolation:   "SCARD_E_SHARING_VIOLATION",
	scard.ErrTimeout:            "SCARD_E_TIMEOUT",
	scard.ErrCancelled:          "SCARD_E_CANCELLED",
	scard.ErrSystemCancelled:    "SCARD_E_SYSTEM_CANCELLED",
	scard.ErrInvalidHandle:      "SCARD_E_INVALID_HANDLE",
	scard.ErrInvalidParameter:   "SCARD_E_INVALID_PARAMETER",
	scard.ErrInvalidValue:       "SCARD_E_INVALID_VALUE",
	scard.ErrInsufficientBuffer: "SCARD_E_INSUFFICIENT_BUFFER",
	scard.ErrNotTransacted:      "SCARD_E_NOT_TRANSACTED",
	scard.ErrInternalError:      "SCARD_F_INTERNAL_ERROR",
	scard.ErrUnknownError:       "SCARD_F_UNKNOWN_ERROR",
	scard.ErrNoMemory:           "SCARD_E_NO_MEMORY",
	scard.ErrInvalidAtr:         "SCARD_E_INVALID_ATR",
	scard.ErrNotReady:           "SCARD_E_NOT_READY",
}

func scardName(c scard.Error) string {
	if n, ok := scardNames[c]; ok {
		return n
	}
	return fmt.Sprintf("0x%08X", uint32(c))
}

// wrapSCard turns an error returned by package scard into an *OpError that
// wraps the matching sentinel. Non-scard errors are wrapped as they are.
func wrapSCard(op, reader string, err error) error {
	if err == nil {
		return nil
	}
	var code scard.Error
	if errors.As(err, &code) {
		return &OpError{Op: op, Reader: reader, Err: &codeError{sentinel: scardSentinels[code], code: code}}
	}
	return &OpError{Op: op, Reader: reader, Err: err}
}

// serviceGone reports whether err means the PC/SC context is no longer usable
// because pcscd went away (or was restarted: old handles are invalid then).
func serviceGone(err error) bool {
	var code scard.Error
	if errors.As(err, &code) {
		switch code {
		case scard.ErrNoService, scard.ErrServiceStopped, scard.ErrCommError, scard.ErrInvalidHandle:
			return true
		}
		return false
	}
	return errors.Is(err, ErrNoService)
}

// StatusError is a status word other than 9000 (ISO/IEC 7816-4 §5.6). It
// matches, with errors.Is, the sentinel of its status word (ErrSecurityStatus
// for 6982, ...) and any *StatusError with the same SW.
type StatusError struct {
	SW  uint16
	INS byte // the instruction that got it
}

func (e *StatusError) Error() string {
	desc := swDescription(e.SW)
	if desc == "" {
		return fmt.Sprintf("card answered %04X to INS %02X", e.SW, e.INS)
	}
	return fmt.Sprintf("card answered %04X (%s) to INS %02X", e.SW, desc, e.INS)
}

// Is matches the sentinel for e.SW, and a *StatusError with the same SW
// (whose INS, when not zero, must match too).
func (e *StatusError) Is(target error) bool {
	if t, ok := target.(*StatusError); ok {
		return t.SW == e.SW && (t.INS == 0 || t.INS == e.INS)
	}
	if s := swSentinel(e.SW); s != nil {
		return s == target
	}
	return false
}

// Retries returns x for a status word 63Cx (ISO/IEC 7816-4 §5.6, Table 6:
// "counter from 0 to 15 encoded by x"), the verification tries left.
func (e *StatusError) Retries() (int, bool) {
	if e.SW&0xFFF0 == 0x63C0 {
		return int(e.SW & 0x0F), true
	}
	return 0, false
}

// Sentinels for status words callers decide on (ISO/IEC 7816-4 §5.6, Tables
// 5 and 6). A *StatusError matches them with errors.Is.
var (
	ErrAuthFailed             = errors.New("verification failed (63 00 / 63 Cx)")
	ErrEndOfFile              = errors.New("end of file reached before reading Ne bytes (62 82)")
	ErrMemoryFailure          = errors.New("memory failure (65 81)")
	ErrWrongLength            = errors.New("wrong length (67 00)")
	ErrSMNotSupported         = errors.New("secure messaging not supported (68 82)")
	ErrChainingNotSupported   = errors.New("command chaining not supported (68 84)")
	ErrSecurityStatus         = errors.New("security status not satisfied (69 82)")
	ErrAuthBlocked            = errors.New("authentication method blocked (69 83)")
	ErrDataInvalid            = errors.New("reference data not usable (69 84)")
	ErrConditionsNotSatisfied = errors.New("conditions of use not satisfied (69 85)")
	ErrCommandNotAllowed      = errors.New("command not allowed, no current EF (69 86)")
	ErrSMDataObjects          = errors.New("secure messaging data objects missing or incorrect (69 87 / 69 88)")
	ErrWrongData              = errors.New("incorrect parameters in the command data field (6A 80)")
	ErrFuncNotSupported       = errors.New("function not supported (6A 81)")
	ErrFileNotFound           = errors.New("file or application not found (6A 82)")
	ErrNotEnoughMemory        = errors.New("not enough memory space in the file (6A 84)")
	ErrWrongP1P2              = errors.New("incorrect parameters P1-P2 (6A 86 / 6B 00)")
	ErrRefDataNotFound        = errors.New("referenced data not found (6A 88)")
	ErrFileExists             = errors.New("file already exists (6A 89)")
	ErrINSNotSupported        = errors.New("instruction not supported (6D 00)")
	ErrCLANotSupported        = errors.New("class not supported (6E 00)")
	ErrNoPreciseDiagnosis     = errors.New("no precise diagnosis (6F 00)")
)

func swSentinel(sw uint16) error {
	switch {
	case sw == 0x6300 || sw&0xFFF0 == 0x63C0:
		return ErrAuthFailed
	case sw == 0x6987 || sw == 0x6988:
		return ErrSMDataObjects
	case sw == 0x6A86 || sw == 0x6B00:
		return ErrWrongP1P2
	}
	switch sw {
	case 0x6282:
		return ErrEndOfFile
	case 0x6581:
		return ErrMemoryFailure
	case 0x6700:
		return ErrWrongLength
	case 0x6882:
		return ErrSMNotSupported
	case 0x6884:
		return ErrChainingNotSupported
	case 0x6982:
		return ErrSecurityStatus
	case 0x6983:
		return ErrAuthBlocked
	case 0x6984:
		return ErrDataInvalid
	case 0x6985:
		return ErrConditionsNotSatisfied
	case 0x6986:
		return ErrCommandNotAllowed
	case 0x6A80:
		return ErrWrongData
	case 0x6A81:
		return ErrFuncNotSupported
	case 0x6A82:
		return ErrFileNotFound
	case 0x6A84:
		return ErrNotEnoughMemory
	case 0x6A88:
		return ErrRefDataNotFound
	case 0x6A89:
		return ErrFileExists
	case 0x6D00:
		return ErrINSNotSupported
	case 0x6E00:
		return ErrCLANotSupported
	case 0x6F00:
		return ErrNoPreciseDiagnosis
	}
	return nil
}

// swDescription is the ISO/IEC 7816-4 §5.6 meaning of a status word, for
// messages.
func swDescription(sw uint16) string {
	if sw&0xFFF0 == 0x63C0 {
		return fmt.Sprintf("verification failed, %d tries left", sw&0x0F)
	}
	switch sw >> 8 {
	case 0x61:
		return fmt.Sprintf("%d response bytes still available", sw&0xFF)
	case 0x6C:
		return fmt.Sprintf("wrong Le, exact length %d", sw&0xFF)
	}
	switch sw {
	case 0x6300:
		return "verification failed"
	case 0x6281:
		return "part of returned data may be corrupted"
	case 0x6282:
		return "end of file reached before reading Ne bytes"
	case 0x6581:
		return "memory failure"
	case 0x6700:
		return "wrong length"
	case 0x6881:
		return "logical channel not supported"
	case 0x6882:
		return "secure messaging not supported"
	case 0x6883:
		return "last command of the chain expected"
	case 0x6884:
		return "command chaining not supported"
	case 0x6982:
		return "security status not satisfied"
	case 0x6983:
		return "authentication method blocked"
	case 0x6984:
		return "reference data not usable"
	case 0x6985:
		return "conditions of use not satisfied"
	case 0x6986:
		return "command not allowed (no current EF)"
	case 0x6987:
		return "expected secure messaging data objects missing"
	case 0x6988:
		return "incorrect secure messaging data objects"
	case 0x6A80:
		return "incorrect parameters in the command data field"
	case 0x6A81:
		return "function not supported"
	case 0x6A82:
		return "file or application not found"
	case 0x6A83:
		return "record not found"
	case 0x6A84:
		return "not enough memory space in the file"
	case 0x6A85:
		return "Nc inconsistent with TLV structure"
	case 0x6A86:
		return "incorrect parameters P1-P2"
	case 0x6A88:
		return "referenced data not found"
	case 0x6A89:
		return "file already exists"
	case 0x6B00:
		return "wrong parameters P1-P2"
	case 0x6D00:
		return "instruction not supported"
	case 0x6E00:
		return "class not supported"
	case 0x6F00:
		return "no precise diagnosis"
	}
	return ""
}
