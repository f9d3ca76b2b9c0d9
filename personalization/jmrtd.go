package personalization

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization/lds"
)

// JMRTD is the profile of the JMRTD passport applet (LGPL, AID
// A0000002471001), which runs on real Java Cards and whose personalization
// protocol is public (chip-data.md §8). Before the lock everything is plain;
// afterwards CREATE/UPDATE/PUT DATA answer 6985 and SELECT/READ need BAC.
type JMRTD struct {
	Products []Product
}

// VirtualProducts are the chip products of the project's virtual eMRTD chips
// (pcsc/vcard/emrtd models ext144 and short80), for tests and the demo.
// A production station lists its real card stock in its configuration.
var VirtualProducts = []Product{
	{Name: "vchip-ext144", ATR: "3B8B80018073C821C0564358313434AC", ExtendedLength: true,
		MaxCommandData: 2048, MaxResponseData: 2048, MaxAAKeyBits: 2048},
	{Name: "vchip-short80", ATR: "3B8B80018073C82180564353303830EE", ExtendedLength: false,
		MaxCommandData: 255, MaxResponseData: 256, MaxAAKeyBits: 1024},
}

// NewJMRTD returns the profile for the given products (VirtualProducts when
// none).
func NewJMRTD(products []Product) (*JMRTD, error) {
	if len(products) == 0 {
		products = VirtualProducts
	}
	for _, p := range products {
		if err := p.Check(); err != nil {
			return nil, err
		}
	}
	return &JMRTD{Products: products}, nil
}

func (j *JMRTD) Name() string { return "jmrtd" }

// Identify finds the product by ATR.
func (j *JMRTD) Identify(atr []byte) (Product, error) {
	for _, p := range j.Products {
		if p.Matches(atr) {
			return p, nil
		}
	}
	return Product{}, fmt.Errorf("%w: ATR %X", ErrUnknownChip, atr)
}

// Inspect selects the applet and tells blank, written and locked apart by a
// plain SELECT of EF.COM, which the station always creates first: 6A82 on a
// blank chip, 9000 on a written one, 6982 once locked.
func (j *JMRTD) Inspect(t pcsc.Transport) (CardState, error) {
	if _, err := pcsc.Exec(t, pcsc.Command{INS: 0xA4, P1: 0x04, P2: 0x0C, Data: AIDeMRTD}); err != nil {
		var se *pcsc.StatusError
		if errors.As(err, &se) {
			return CardUnknown, fmt.Errorf("%w: SELECT answered %04X", ErrNoApplet, se.SW)
		}
		return CardUnknown, err
	}
	_, err := pcsc.Exec(t, selectEF(lds.FIDCOM))
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

func selectEF(fid lds.FID) pcsc.Command {
	return pcsc.Command{INS: 0xA4, P1: 0x02, P2: 0x0C, Data: []byte{byte(fid >> 8), byte(fid)}}
}

// Write creates each file at its exact size (CREATE FILE 00 E0, data
// 63 04 <size> <FID>), selects it, writes it in the largest chunks the chip
// takes (UPDATE BINARY 00 D6), and reads it back in plain (READ BINARY
// 00 B0) while it is still selected, comparing byte for byte.
func (j *JMRTD) Write(t pcsc.Transport, p Product, im *lds.Image) error {
	if im.AAKey != nil && im.AAKey.N.BitLen() > p.MaxAAKeyBits {
		return fmt.Errorf("%w: %s holds RSA keys up to %d bits, the image's AA key has %d", ErrWrongStock, p.Name, p.MaxAAKeyBits, im.AAKey.N.BitLen())
	}
	for _, f := range im.Files {
		if len(f.Data) > 0x7FFF {
			return fmt.Errorf("%s: %d bytes: the applet's files hold at most 32767", f.Name, len(f.Data))
		}
		size := len(f.Data)
		create := pcsc.Command{INS: 0xE0, Data: []byte{0x63, 0x04, byte(size >> 8), byte(size), byte(f.FID >> 8), byte(f.FID)}}
		if _, err := pcsc.Exec(t, create); err != nil {
			return fmt.Errorf("CREATE FILE %s: %w", f.Name, err)
		}
		if _, err := pcsc.Exec(t, selectEF(f.FID)); err != nil {
			return fmt.Errorf("SELECT %s: %w", f.Name, err)
		}
		for off := 0; off < size; off += p.MaxCommandData {
			chunk := f.Data[off:min(size, off+p.MaxCommandData)]
			cmd := pcsc.Command{INS: 0xD6, P1: byte(off >> 8), P2: byte(off), Data: chunk}
			if _, err := pcsc.Exec(t, cmd); err != nil {
				return fmt.Errorf("UPDATE BINARY %s at %d: %w", f.Name, off, err)
			}
		}
		back := make([]byte, 0, size)
		for off := 0; off < size; {
			ne := min(p.MaxResponseData, size-off)
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
	}
	return nil
}

// Seal stores the MRZ key seed (PUT DATA 00 DA 00 62: the applet derives the
// BAC keys itself), the RSA Active Authentication key (PUT DATA 60: modulus,
// 61: private exponent), forgets the key, and locks (00 DA DE AD).
func (j *JMRTD) Seal(t pcsc.Transport, p Product, im *lds.Image) error {
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
