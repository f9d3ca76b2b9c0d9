package lds

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
)

// Content is what an application puts on a chip, whatever the chip: the data
// groups made from the application (DG1, DG2, DG13; DG3 prepared aside), the
// MRZ and the CAN. It is prepared ahead of the readers and stored encrypted
// until a card claims it; the security objects that depend on the card
// (EF.CardAccess and DG14 from the chip's capabilities, DG15 from its key,
// EF.COM's final list, EF.SOD over all of them) are made on the card's path
// (personalization.Finish). It holds personal data and no key.
type Content struct {
	// Files are the data groups in write order.
	Files []File
	// DG3: the fingerprints, prepared; written only behind Terminal
	// Authentication.
	DG3 []byte
	MRZ MRZ
	CAN string
}

// LogValue shows sizes only.
func (c Content) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(c.Files)+1)
	for _, f := range c.Files {
		attrs = append(attrs, slog.Int(f.Name, len(f.Data)))
	}
	attrs = append(attrs, slog.Int("DG3", len(c.DG3)))
	return slog.GroupValue(attrs...)
}

// Format prints sizes only, for every verb.
func (c Content) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "lds.Content{%d files, DG3 %d bytes (redacted)}", len(c.Files), len(c.DG3))
}

// MarshalJSON refuses: the stored form is Encode's.
func (c Content) MarshalJSON() ([]byte, error) { return nil, ErrImageNotJSON }

// BAC returns the BAC inputs of the content's MRZ.
func (c *Content) BAC() BACInputs {
	return BACInputs{c.MRZ.DocumentNumber, c.MRZ.DateOfBirth, c.MRZ.DateOfExpiry}
}

// The stored form of a Content (the queue keeps it encrypted between
// preparation and the claim): an explicit, versioned encoding written and
// read only by Encode and DecodeContent; a Content is never JSON and prints
// redacted, so that no json.Marshal or %v of a value holding it writes it out
// by accident.
//
//	"LDSCNT" 0x01                         magic and version
//	A0 { 80 FID(2)  81 name  82 data }    one per file, in write order
//	83 DG3                                (prepared, written only with EAC)
//	85 MRZ (90 characters)
//	86 CAN
const (
	contentMagic   = "LDSCNT"
	contentVersion = 1
)

// ErrContentEncoding is wrapped by errors of the stored form.
var ErrContentEncoding = errors.New("lds: stored chip content")

// Encode writes the stored form.
func (c *Content) Encode() ([]byte, error) {
	mrz, err := c.MRZ.String()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrContentEncoding, err)
	}
	out := append([]byte(contentMagic), contentVersion)
	for _, f := range c.Files {
		out = append(out, TLV(0xA0, TLV(0x80, []byte{byte(f.FID >> 8), byte(f.FID)}), TLV(0x81, []byte(f.Name)), TLV(0x82, f.Data))...)
	}
	if c.DG3 != nil {
		out = append(out, TLV(0x83, c.DG3)...)
	}
	out = append(out, TLV(0x85, []byte(mrz))...)
	out = append(out, TLV(0x86, []byte(c.CAN))...)
	return out, nil
}

// DecodeContent reads the stored form written by Encode (version 1). The
// content does not alias b: the caller may clear b at once.
func DecodeContent(b []byte) (*Content, error) {
	if len(b) < len(contentMagic)+1 || string(b[:len(contentMagic)]) != contentMagic {
		return nil, fmt.Errorf("%w: not a stored chip content", ErrContentEncoding)
	}
	if v := b[len(contentMagic)]; v != contentVersion {
		return nil, fmt.Errorf("%w: version %d, this program reads %d", ErrContentEncoding, v, contentVersion)
	}
	objs, err := ParseAll(b[len(contentMagic)+1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrContentEncoding, err)
	}
	c := &Content{}
	var haveMRZ bool
	for _, o := range objs {
		switch o.Tag {
		case 0xA0:
			parts, err := o.Children()
			if err != nil {
				return nil, fmt.Errorf("%w: file: %w", ErrContentEncoding, err)
			}
			fid, ok1 := Find(parts, 0x80)
			name, ok2 := Find(parts, 0x81)
			data, ok3 := Find(parts, 0x82)
			if !ok1 || !ok2 || !ok3 || len(fid.Value) != 2 || len(parts) != 3 {
				return nil, fmt.Errorf("%w: a file lacks its FID, name or data", ErrContentEncoding)
			}
			c.Files = append(c.Files, File{FID: FID(fid.Value[0])<<8 | FID(fid.Value[1]), Name: string(name.Value), Data: bytes.Clone(data.Value)})
		case 0x83:
			c.DG3 = bytes.Clone(o.Value)
		case 0x85:
			m, err := ParseTD1(string(o.Value))
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrContentEncoding, err)
			}
			c.MRZ, haveMRZ = m, true
		case 0x86:
			c.CAN = string(o.Value)
		default:
			return nil, fmt.Errorf("%w: unknown element %X", ErrContentEncoding, o.Tag)
		}
	}
	if !haveMRZ || len(c.Files) == 0 {
		return nil, fmt.Errorf("%w: no MRZ or no files", ErrContentEncoding)
	}
	return c, nil
}
