package emrtd

import "fmt"

// Faults are failures a chip produces on demand. They combine with any model
// and are configuration, not chip state: MarshalJSON does not save them.
type Faults struct {
	// RemoveAfter, when N > 0, pulls the card out of the reader after N
	// APDUs: the (N+1)-th command since New or Load returns
	// vcard.ErrRemoved. N counts every APDU, whatever its outcome.
	RemoveAfter int
	// MemoryFailure makes every UPDATE BINARY whose range covers the offset
	// answer 6581 (ISO/IEC 7816-4 §5.6: memory failure) and write nothing. It
	// persists: a bad EEPROM cell stays bad.
	MemoryFailure *WriteFault
	// Tear cuts the power during the first UPDATE BINARY whose range covers
	// the offset: the bytes before the offset are written and stay written,
	// the rest is not, and Process returns vcard.ErrRemoved.
	Tear *WriteFault
}

// WriteFault places a fault in the EEPROM of the files.
type WriteFault struct {
	// Offset is the byte offset inside the file.
	Offset int
	// FID limits the fault to one file; 0 means every file (0000 is not a
	// FID the applet can create).
	FID uint16
}

func (w *WriteFault) covers(fid uint16, off, n int) bool {
	if w == nil || (w.FID != 0 && w.FID != fid) {
		return false
	}
	return off <= w.Offset && w.Offset < off+n
}

func (w *WriteFault) String() string {
	if w == nil {
		return "none"
	}
	if w.FID == 0 {
		return fmt.Sprintf("any file at offset %d", w.Offset)
	}
	return fmt.Sprintf("file %04X at offset %d", w.FID, w.Offset)
}

// AnyFile is a WriteFault at offset in every file.
func AnyFile(offset int) *WriteFault { return &WriteFault{Offset: offset} }

// InFile is a WriteFault at offset in file fid only.
func InFile(fid uint16, offset int) *WriteFault { return &WriteFault{Offset: offset, FID: fid} }
