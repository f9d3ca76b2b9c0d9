package personalization

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/lds"
)

// JMRTD is the profile of the JMRTD passport applet (LGPL, AID
// A0000002471001), which runs on real Java Cards and whose personalization
// protocol is public (chip-data.md §8). Before the lock everything is plain;
// afterwards CREATE/UPDATE/PUT DATA answer 6985 and SELECT/READ need BAC.
// The applet cannot make keys: the station makes the RSA Active
// Authentication key and injects it.
type JMRTD struct{}

func (JMRTD) Name() string { return "jmrtd" }

// Inspect selects the applet and tells blank, written and locked apart by a
// plain SELECT of DG1, the first file the station creates: 6A82 on a blank
// chip, 9000 on a written one, 6982 once locked.
func (JMRTD) Inspect(t pcsc.Transport) (CardState, error) {
	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: AIDeMRTD}); err != nil {
		var se *pcsc.StatusError
		if errors.As(err, &se) {
			return CardUnknown, fmt.Errorf("%w: SELECT answered %04X", ErrNoApplet, se.SW)
		}
		return CardUnknown, err
	}
	return stateBySelect(t, lds.FIDDG1)
}

// stateBySelect tells a blank, written or locked eMRTD application apart by a
// plain SELECT of the first file the station creates in it.
func stateBySelect(t pcsc.Transport, first lds.FID) (CardState, error) {
	_, err := pcsc.Exec(t, selectEF(first))
	switch {
	case err == nil:
		return CardWritten, nil
	case errors.Is(err, pcsc.ErrFileNotFound):
		return CardBlank, nil
	case errors.Is(err, pcsc.ErrSecurityStatus):
		return CardLocked, nil
	}
	return CardUnknown, err
}

// Open selects the applet: personalization is in plain.
func (JMRTD) Open(t pcsc.Transport, _ Product, _ string, _ io.Reader) (pcsc.Transport, error) {
	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: AIDeMRTD}); err != nil {
		return nil, fmt.Errorf("SELECT eMRTD application: %w", err)
	}
	return t, nil
}

// ChipMakesKeys: no, the applet takes a station-made RSA key.
func (JMRTD) ChipMakesKeys() bool { return false }

// GenerateKeys is not a command of the applet.
func (JMRTD) GenerateKeys(pcsc.Transport, Product) (ChipKeys, error) {
	return ChipKeys{}, fmt.Errorf("%w: the JMRTD applet makes no keys", ErrKeyGeneration)
}

func selectEF(fid lds.FID) pcsc.Command {
	return pcsc.Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{byte(fid >> 8), byte(fid)}}
}

// WriteFile creates a file at its exact size (CREATE FILE 00 E0, data
// 63 04 <size> <FID>), selects it, writes it in the largest chunks the chip
// takes (UPDATE BINARY 00 D6), and reads it back in plain (READ BINARY
// 00 B0) while it is still selected, comparing byte for byte.
func (JMRTD) WriteFile(t pcsc.Transport, p Product, f lds.File) error {
	if len(f.Data) > 0x7FFF {
		return fmt.Errorf("%s: %d bytes: the applet's files hold at most 32767", f.Name, len(f.Data))
	}
	size := len(f.Data)
	create := pcsc.Command{INS: 0xE0, Data: []byte{0x63, 0x04, byte(size >> 8), byte(size), byte(f.FID >> 8), byte(f.FID)}}
	if _, err := pcsc.Exec(t, create); err != nil {
		return fmt.Errorf("CREATE FILE %s: %w", f.Name, err)
	}
	return writeSelected(t, f, p.MaxCommandData, p.MaxResponseData)
}

// writeSelected selects a created file, writes it in chunks of at most
// maxWrite bytes and reads it back in chunks of at most maxRead, comparing
// byte for byte. The transport may be a secure channel: the chunk sizes are
// then the plain data that fits one protected command and response.
func writeSelected(t pcsc.Transport, f lds.File, maxWrite, maxRead int) error {
	size := len(f.Data)
	if _, err := pcsc.Exec(t, selectEF(f.FID)); err != nil {
		return fmt.Errorf("SELECT %s: %w", f.Name, err)
	}
	for off := 0; off < size; off += maxWrite {
		chunk := f.Data[off:min(size, off+maxWrite)]
		cmd := pcsc.Command{INS: 0xD6, P1: byte(off >> 8), P2: byte(off), Data: chunk}
		if _, err := pcsc.Exec(t, cmd); err != nil {
			return fmt.Errorf("UPDATE BINARY %s at %d: %w", f.Name, off, err)
		}
	}
	back := make([]byte, 0, size)
	for off := 0; off < size; {
		ne := min(maxRead, size-off)
		data, err := pcsc.Exec(t, pcsc.Command{INS: 0xB0, P1: byte(off >> 8), P2: byte(off), Ne: ne})
		if err != nil && !errors.Is(err, pcsc.ErrEndOfFile) {
			return fmt.Errorf("READ BINARY %s at %d: %w", f.Name, off, err)
		}
		if len(data) == 0 {
			return fmt.Errorf("%w: %s: the chip returned nothing at offset %d of %d", ErrReadBack, f.Name, off, size)
		}
		back = append(back, data...)
		off += len(data)
	}
	if !bytes.Equal(back, f.Data) {
		return fmt.Errorf("%w: %s%s", ErrReadBack, f.Name, firstDiff(back, f.Data))
	}
	return nil
}

// Seal stores the MRZ key seed (PUT DATA 00 DA 00 62: the applet derives the
// BAC keys itself), the RSA Active Authentication key (PUT DATA 60: modulus,
// 61: private exponent), forgets the key, and locks (00 DA DE AD).
func (JMRTD) Seal(t pcsc.Transport, p Product, im *lds.Image) error {
	seed := lds.TLV(0x62,
		lds.TLV(0x04, []byte(im.MRZ.DocumentNumber)),
		lds.TLV(0x04, []byte(im.MRZ.DateOfBirth)),
		lds.TLV(0x04, []byte(im.MRZ.DateOfExpiry)))
	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xDA, P1: 0x00, P2: 0x62, Data: seed}); err != nil {
		return fmt.Errorf("PUT DATA MRZ key seed: %w", err)
	}
	if im.AAKey == nil {
		return errors.New("the chip image has no Active Authentication key (already injected?)")
	}
	k := (im.AAKey.N.BitLen() + 7) / 8
	modulus := lds.TLV(0x60, lds.TLV(0x04, im.AAKey.N.FillBytes(make([]byte, k))))
	exponent := lds.TLV(0x61, lds.TLV(0x04, im.AAKey.D.FillBytes(make([]byte, k))))
	err := func() error {
		defer clear(exponent)
		if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xDA, P1: 0x00, P2: 0x60, Data: modulus}); err != nil {
			return fmt.Errorf("PUT DATA AA modulus: %w", err)
		}
		if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xDA, P1: 0x00, P2: 0x61, Data: exponent}); err != nil {
			return fmt.Errorf("PUT DATA AA private exponent: %w", err)
		}
		return nil
	}()
	if err != nil {
		return err
	}
	im.WipeAAKey()
	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xDA, P1: 0xDE, P2: 0xAD}); err != nil {
		return fmt.Errorf("LOCK: %w", err)
	}
	return nil
}
