package pcsc

import (
	"errors"
	"strings"
	"testing"

	"github.com/ebfe/scard"
)

func TestSCardCodesMapToTheSentinelsCallersDecideOn(t *testing.T) {
	tests := []struct {
		code scard.Error
		want error
	}{
		{scard.ErrNoService, ErrNoService},
		{scard.ErrServiceStopped, ErrNoService},
		{scard.ErrCommError, ErrNoService},
		{scard.ErrNoReadersAvailable, ErrReaderGone},
		{scard.ErrReaderUnavailable, ErrReaderGone},
		{scard.ErrUnknownReader, ErrReaderGone},
		{scard.ErrRemovedCard, ErrCardRemoved},
		{scard.ErrResetCard, ErrCardReset},
		{scard.ErrNoSmartcard, ErrNoCard},
		{scard.ErrSharingViolation, ErrSharingViolation},
		{scard.ErrTimeout, ErrTimeout},
		{scard.ErrCancelled, ErrCancelled},
		{scard.ErrUnpoweredCard, ErrCardMute},
		{scard.ErrUnresponsiveCard, ErrCardMute},
	}
	for _, tt := range tests {
		err := wrapSCard("transmit", "Reader 00 00", tt.code)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: errors.Is(%v, %v) = false", scardName(tt.code), err, tt.want)
		}
		if !errors.Is(err, tt.code) {
			t.Errorf("%s: the scard code is not kept: %v", scardName(tt.code), err)
		}
		var op *OpError
		if !errors.As(err, &op) || op.Op != "transmit" || op.Reader != "Reader 00 00" {
			t.Errorf("%s: not an *OpError with op and reader: %#v", scardName(tt.code), err)
		}
	}
}

func TestNoServiceSaysPcscdIsNotRunning(t *testing.T) {
	err := wrapSCard("open", "", scard.ErrNoService)
	if !strings.Contains(err.Error(), "pcscd is not running (no PC/SC service)") {
		t.Fatalf("message %q does not say pcscd is not running", err)
	}
}

func TestStatusErrorMatchesItsSentinel(t *testing.T) {
	tests := []struct {
		sw   uint16
		want error
	}{
		{0x6982, ErrSecurityStatus},
		{0x6985, ErrConditionsNotSatisfied},
		{0x6A82, ErrFileNotFound},
		{0x6700, ErrWrongLength},
		{0x6581, ErrMemoryFailure},
		{0x6300, ErrAuthFailed},
		{0x63C2, ErrAuthFailed},
		{0x6987, ErrSMDataObjects},
		{0x6988, ErrSMDataObjects},
		{0x6A86, ErrWrongP1P2},
		{0x6B00, ErrWrongP1P2},
		{0x6D00, ErrINSNotSupported},
	}
	for _, tt := range tests {
		var err error = &StatusError{SW: tt.sw, INS: 0xB0}
		wrapped := errors.Join(errors.New("context"), err)
		if !errors.Is(wrapped, tt.want) {
			t.Errorf("%04X does not match %v", tt.sw, tt.want)
		}
		if errors.Is(wrapped, ErrFileNotFound) && tt.want != ErrFileNotFound {
			t.Errorf("%04X matches ErrFileNotFound", tt.sw)
		}
		if !errors.Is(wrapped, &StatusError{SW: tt.sw}) {
			t.Errorf("%04X does not match a StatusError with the same SW", tt.sw)
		}
		if errors.Is(wrapped, &StatusError{SW: tt.sw, INS: 0xD6}) {
			t.Errorf("%04X INS B0 matches a StatusError for INS D6", tt.sw)
		}
	}
	se := &StatusError{SW: 0x63C2, INS: 0x20}
	if n, ok := se.Retries(); !ok || n != 2 {
		t.Errorf("Retries() of 63C2 = %d, %v; want 2, true", n, ok)
	}
	if !strings.Contains(se.Error(), "63C2") {
		t.Errorf("message %q lacks the status word", se.Error())
	}
}
