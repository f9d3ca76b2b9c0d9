package pcsc

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Card manager AIDs tried, in order: the GlobalPlatform Issuer Security
// Domain (GP Card Specification 2.3 §H.1.3) and the older Visa/OP one.
var cardManagerAIDs = [][]byte{
	{0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00},
	{0xA0, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00},
}

// ErrNoSerial: the card gave neither CPLC data nor a UID.
var ErrNoSerial = errors.New("card reports no serial (no CPLC, no UID)")

// ReadSerial returns the chip's serial (chip-data.md §10):
//
//   - from the CPLC data (GlobalPlatform Card Specification 2.3 §H.6, GET
//     DATA 80 CA 9F 7F 00 on the card manager → 9F 7F 2A <42 bytes>): the
//     upper-case hex of IC fabricator ‖ IC type ‖ IC serial number ‖ IC batch
//     identifier (CPLC bytes 0-3 and 12-17, 20 hex characters);
//   - failing that, from the contactless UID the reader reports (PC/SC Part 3
//     §3.2.2.1.3, GET DATA FF CA 00 00 00), in upper-case hex.
//
// It leaves the card manager selected: the caller selects its application
// next.
func ReadSerial(t Transport) (string, error) {
	for _, aid := range cardManagerAIDs {
		// SELECT by DF name, first or only occurrence, return FCI (ISO/IEC
		// 7816-4 §11.2.2).
		sel := Command{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x00, Data: aid, Ne: 256}
		if _, err := Exec(t, sel); err == nil {
			break
		} else if !isStatus(err) {
			return "", fmt.Errorf("read serial: select card manager: %w", err)
		}
	}
	cplc, cerr := Exec(t, Command{CLA: 0x80, INS: 0xCA, P1: 0x9F, P2: 0x7F, Ne: 256})
	if cerr == nil {
		s, perr := serialFromCPLC(cplc)
		if perr == nil {
			return s, nil
		}
		cerr = perr
	} else if !isStatus(cerr) {
		return "", fmt.Errorf("read serial: get data CPLC: %w", cerr)
	}
	uid, uerr := readUID(t)
	if uerr == nil {
		return uid, nil
	}
	if !isStatus(uerr) && !errors.Is(uerr, ErrNoSerial) {
		return "", fmt.Errorf("read serial: get UID: %w", uerr)
	}
	return "", fmt.Errorf("read serial: %w (CPLC: %v; UID: %v)", ErrNoSerial, cerr, uerr)
}

func isStatus(err error) bool {
	var se *StatusError
	return errors.As(err, &se)
}

func readUID(t Transport) (string, error) {
	uid, err := Exec(t, Command{CLA: 0xFF, INS: 0xCA, P1: 0x00, P2: 0x00, Ne: 256})
	if err != nil {
		return "", err
	}
	if len(uid) == 0 {
		return "", fmt.Errorf("%w: empty UID", ErrNoSerial)
	}
	return strings.ToUpper(hex.EncodeToString(uid)), nil
}

// serialFromCPLC takes the CPLC data with or without its 9F 7F tag.
func serialFromCPLC(b []byte) (string, error) {
	if len(b) >= 3 && b[0] == 0x9F && b[1] == 0x7F {
		n := int(b[2])
		if len(b) < 3+n {
			return "", fmt.Errorf("%w: CPLC truncated: %d of %d bytes", ErrNoSerial, len(b)-3, n)
		}
		b = b[3 : 3+n]
	}
	if len(b) < 18 {
		return "", fmt.Errorf("%w: CPLC of %d bytes", ErrNoSerial, len(b))
	}
	id := make([]byte, 0, 10)
	id = append(id, b[0:4]...)   // IC fabricator, IC type
	id = append(id, b[12:18]...) // IC serial number, IC batch identifier
	return strings.ToUpper(hex.EncodeToString(id)), nil
}
