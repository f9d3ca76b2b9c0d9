package emrtd

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"sync"
	"sync/atomic"
)

// cplcLen is the size of the Card Production Life Cycle data (GlobalPlatform
// Card Specification, GET DATA tag 9F7F).
const cplcLen = 42

// Offsets of the CPLC fields (GP Card Specification, CPLC data).
const (
	cplcICFabricator      = 0  // 2
	cplcICType            = 2  // 2
	cplcOSID              = 4  // 2
	cplcOSReleaseDate     = 6  // 2
	cplcOSReleaseLevel    = 8  // 2
	cplcICFabricationDate = 10 // 2
	cplcICSerialNumber    = 12 // 4
	cplcICBatchID         = 16 // 2
	cplcModuleFabricator  = 18 // 2
	cplcModulePackaging   = 20 // 2
	cplcICCManufacturer   = 22 // 2
	cplcICEmbeddingDate   = 24 // 2
	// 26 pre-perso(2), 28 pre-perso equipment date(2), 30 pre-perso
	// equipment id(4), 34 personalizer(2), 36 perso date(2), 38 perso
	// equipment id(4): zero on a blank card (the station does not set them).
)

// newCPLC fills the CPLC of a new chip. Dates are GP's YDDD (last digit of
// the year, day of the year, BCD).
func newCPLC(m Model, icSerial uint32, batch uint16) [cplcLen]byte {
	var c [cplcLen]byte
	put := func(off int, v uint16) { binary.BigEndian.PutUint16(c[off:], v) }
	put(cplcICFabricator, m.ICFabricator)
	put(cplcICType, m.ICType)
	put(cplcOSID, 0x4A43)          // "JC"
	put(cplcOSReleaseDate, 0x5120) // 2025, day 120
	put(cplcOSReleaseLevel, 0x0304)
	put(cplcICFabricationDate, 0x6015) // 2026, day 015
	binary.BigEndian.PutUint32(c[cplcICSerialNumber:], icSerial)
	put(cplcICBatchID, batch)
	put(cplcModuleFabricator, m.ICFabricator)
	put(cplcModulePackaging, 0x6030)
	put(cplcICCManufacturer, m.ICFabricator)
	put(cplcICEmbeddingDate, 0x6045)
	return c
}

// serialOf is the chip serial the station records: upper-case hex of IC
// fabricator ‖ IC type ‖ IC serial number ‖ IC batch id (CPLC bytes 0-3 and
// 12-17), 20 characters.
func serialOf(c *[cplcLen]byte) string {
	b := make([]byte, 0, 10)
	b = append(b, c[0:4]...)
	b = append(b, c[cplcICSerialNumber:cplcICBatchID+2]...)
	return strings.ToUpper(hex.EncodeToString(b))
}

// Serial numbers: a random batch id and a random starting IC serial number per
// process, then one more per chip, so that chips are unique within a process
// and, with overwhelming probability, across the feeder's runs.
var serials struct {
	once  sync.Once
	batch uint16
	next  atomic.Uint32
}

func nextSerial() (icSerial uint32, batch uint16) {
	serials.once.Do(func() {
		var b [6]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic("emrtd: no randomness for chip serials: " + err.Error())
		}
		serials.batch = binary.BigEndian.Uint16(b[0:2])
		serials.next.Store(binary.BigEndian.Uint32(b[2:6]))
	})
	return serials.next.Add(1), serials.batch
}
