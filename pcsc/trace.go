package pcsc

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Trace records the APDUs a Card exchanges, with timing, for diagnosis: a
// ring buffer of the last entries and optionally a writer and a logger.
//
// Secrets and personal data never enter it: what a command may show is
// decided by the table maskRules (see Visibility). A masked entry keeps only
// the header, the lengths, the status word and the duration.
//
// A Trace may be shared by several Cards (one per reader); it is safe for
// concurrent use.
type Trace struct {
	mu   sync.Mutex
	ring []TraceEntry
	next int
	full bool
	w    io.Writer
	log  *slog.Logger
}

// TraceOption configures a Trace.
type TraceOption func(*Trace)

// TraceTo writes each entry as one line to w.
func TraceTo(w io.Writer) TraceOption { return func(t *Trace) { t.w = w } }

// TraceLog logs each entry at debug level to l.
func TraceLog(l *slog.Logger) TraceOption { return func(t *Trace) { t.log = l } }

// NewTrace returns a trace keeping the last size entries.
func NewTrace(size int, opts ...TraceOption) *Trace {
	if size < 1 {
		size = 1
	}
	t := &Trace{ring: make([]TraceEntry, size)}
	for _, o := range opts {
		o(t)
	}
	return t
}

// TraceEntry is one APDU exchange as the trace shows it.
type TraceEntry struct {
	At     time.Time
	Reader string
	Header [4]byte // CLA INS P1 P2
	Nc     int     // command data length
	Ne     int     // expected response length (0: no Le)
	// Data is the command data, nil when masked (DataMasked).
	Data       []byte
	DataMasked bool
	// Resp is the response data, nil when masked (RespMasked).
	Resp       []byte
	RespLen    int
	RespMasked bool
	SW         uint16
	Duration   time.Duration
	Err        string // the exchange failed (no SW)
}

// String formats the entry on one line:
//
//	reader > 00A4040C Lc=07 A0000002471001 < 9000 Lr=0 85µs
func (e TraceEntry) String() string {
	var b strings.Builder
	if e.Reader != "" {
		fmt.Fprintf(&b, "%q ", e.Reader)
	}
	fmt.Fprintf(&b, "> %X", e.Header[:])
	if e.Nc > 0 {
		fmt.Fprintf(&b, " Lc=%d", e.Nc)
		if e.DataMasked {
			b.WriteString(" [masked]")
		} else {
			b.WriteString(" " + strings.ToUpper(hex.EncodeToString(e.Data)))
		}
	}
	if e.Ne > 0 {
		fmt.Fprintf(&b, " Le=%d", e.Ne)
	}
	if e.Err != "" {
		fmt.Fprintf(&b, " < error: %s %s", e.Err, e.Duration)
		return b.String()
	}
	fmt.Fprintf(&b, " < %04X Lr=%d", e.SW, e.RespLen)
	if e.RespLen > 0 {
		if e.RespMasked {
			b.WriteString(" [masked]")
		} else {
			b.WriteString(" " + strings.ToUpper(hex.EncodeToString(e.Resp)))
		}
	}
	fmt.Fprintf(&b, " %s", e.Duration)
	return b.String()
}

// LogValue shows the entry in structured logs; masked data stays masked.
func (e TraceEntry) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("reader", e.Reader),
		slog.String("header", fmt.Sprintf("%X", e.Header[:])),
		slog.Int("nc", e.Nc),
		slog.Int("ne", e.Ne),
	}
	if e.Nc > 0 && !e.DataMasked {
		attrs = append(attrs, slog.String("data", fmt.Sprintf("%X", e.Data)))
	}
	if e.Err != "" {
		attrs = append(attrs, slog.String("error", e.Err))
	} else {
		attrs = append(attrs, slog.String("sw", fmt.Sprintf("%04X", e.SW)), slog.Int("lr", e.RespLen))
		if e.RespLen > 0 && !e.RespMasked {
			attrs = append(attrs, slog.String("resp", fmt.Sprintf("%X", e.Resp)))
		}
	}
	attrs = append(attrs, slog.Duration("duration", e.Duration))
	return slog.GroupValue(attrs...)
}

// Entries returns the recorded entries, oldest first.
func (t *Trace) Entries() []TraceEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []TraceEntry
	if t.full {
		out = append(out, t.ring[t.next:]...)
	}
	return append(out, t.ring[:t.next]...)
}

// Record adds one exchange: cmd and rsp are the raw APDUs, origin the
// command whose visibility applies (the command itself, or for GET RESPONSE
// the command it continues). Only what Visibility allows is kept.
func (t *Trace) Record(reader string, origin, cmd, rsp []byte, at time.Time, d time.Duration, err error) {
	e := TraceEntry{At: at, Reader: reader, Duration: d}
	showCmd, showResp := Visibility(origin)
	if c, _, perr := ParseCommand(cmd); perr == nil {
		e.Header = [4]byte{c.CLA, c.INS, c.P1, c.P2}
		e.Nc, e.Ne = len(c.Data), c.Ne
		if showCmd {
			e.Data = append([]byte(nil), c.Data...)
		} else {
			e.DataMasked = e.Nc > 0
		}
	} else {
		copy(e.Header[:], cmd)
		e.Nc = max(len(cmd)-4, 0)
		e.DataMasked = e.Nc > 0
	}
	if err != nil {
		e.Err = err.Error()
	} else if data, sw, serr := SplitResponse(rsp); serr == nil {
		e.SW, e.RespLen = sw, len(data)
		if showResp {
			e.Resp = append([]byte(nil), data...)
		} else {
			e.RespMasked = e.RespLen > 0
		}
	} else {
		e.Err = serr.Error()
	}
	t.mu.Lock()
	t.ring[t.next] = e
	t.next++
	if t.next == len(t.ring) {
		t.next, t.full = 0, true
	}
	w, l := t.w, t.log
	if w != nil {
		fmt.Fprintf(w, "%s %s\n", e.At.Format("15:04:05.000000"), e)
	}
	t.mu.Unlock()
	if l != nil {
		l.LogAttrs(context.Background(), slog.LevelDebug, "apdu", slog.Any("apdu", e))
	}
}

// maskRule says what the trace may show of the commands it matches.
type maskRule struct {
	name     string
	match    func(cla, ins, p1, p2 byte) bool
	showData bool // command data
	showResp bool // response data
}

func insIs(codes ...byte) func(cla, ins, p1, p2 byte) bool {
	return func(_, ins, _, _ byte) bool {
		for _, c := range codes {
			if ins == c {
				return true
			}
		}
		return false
	}
}

// secureMessaging reports whether CLA announces secure messaging (ISO/IEC
// 7816-4 §5.4.1: first interindustry class b4-b3 ≠ 00, further
// interindustry class b6 = 1; GlobalPlatform's proprietary class 84 / 8C
// uses b3 the same way).
func secureMessaging(cla byte) bool {
	switch {
	case cla == 0xFF: // PC/SC pseudo-APDUs
		return false
	case cla&0xE0 == 0x00: // first interindustry, 0x00-0x1F
		return cla&0x0C != 0
	case cla&0xC0 == 0x40: // further interindustry, 0x40-0x7F
		return cla&0x20 != 0
	case cla&0x80 != 0: // proprietary
		return cla&0x0C != 0
	}
	return false
}

// maskRules is the trace's visibility table, first match wins. Secrets (keys,
// PINs, the MRZ key seed) and personal data (file contents) are never shown.
// Anything not listed is masked both ways.
var maskRules = []maskRule{
	{"secure messaging (CLA)", func(cla, _, _, _ byte) bool { return secureMessaging(cla) }, false, false},
	{"VERIFY", insIs(0x20, 0x21), false, false},
	{"CHANGE REFERENCE DATA", insIs(0x24, 0x25), false, false},
	{"RESET RETRY COUNTER", insIs(0x2C, 0x2D), false, false},
	{"EXTERNAL / MUTUAL AUTHENTICATE", insIs(0x82), false, false},
	{"GENERAL AUTHENTICATE", insIs(0x86, 0x87), false, false},
	{"PUT DATA", insIs(0xDA, 0xDB), false, false},
	{"UPDATE / WRITE BINARY, RECORD", insIs(0xD6, 0xD7, 0xD0, 0xD1, 0xDC, 0xDD, 0xD2, 0xE2), false, false},
	{"READ BINARY / RECORD", insIs(0xB0, 0xB1, 0xB2, 0xB3), true, false},
	{"SELECT", insIs(0xA4), true, true},
	{"GET DATA CPLC", func(cla, ins, p1, p2 byte) bool { return (ins == 0xCA || ins == 0xCB) && p1 == 0x9F && p2 == 0x7F }, true, true},
	{"GET DATA UID (PC/SC)", func(cla, ins, p1, p2 byte) bool { return cla == 0xFF && ins == 0xCA }, true, true},
	{"GET CHALLENGE", insIs(0x84), true, true},
	{"CREATE FILE", insIs(0xE0), true, true},
	{"other", func(_, _, _, _ byte) bool { return true }, false, false},
}

// Visibility says whether the trace may show the data of a command and of
// its response, by the table maskRules.
func Visibility(cmd []byte) (showData, showResp bool) {
	if len(cmd) < 4 {
		return false, false
	}
	for _, r := range maskRules {
		if r.match(cmd[0], cmd[1], cmd[2], cmd[3]) {
			return r.showData, r.showResp
		}
	}
	return false, false
}
