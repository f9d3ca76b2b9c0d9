package queue

import (
	"fmt"
	"log/slog"
)

// Submission and PrepJob carry personal data (Raw), Claim the chip image
// with its Active Authentication private key (Image). They never print or
// log it: fmt and slog show ids, sizes and states only.

// LogValue redacts Raw.
func (s Submission) LogValue() slog.Value {
	return slog.GroupValue(slog.String("application_id", s.ApplicationID), slog.String("batch_id", s.BatchID),
		slog.Int("raw_bytes", len(s.Raw)), slog.Int("problems", len(s.Problems)))
}

// Format redacts Raw for every fmt verb.
func (s Submission) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "queue.Submission{%s batch %s, raw %d bytes (redacted), %d problems}", s.ApplicationID, s.BatchID, len(s.Raw), len(s.Problems))
}

// LogValue redacts Raw.
func (j PrepJob) LogValue() slog.Value {
	return slog.GroupValue(slog.String("application_id", j.ApplicationID), slog.Int("raw_bytes", len(j.Raw)))
}

// Format redacts Raw for every fmt verb.
func (j PrepJob) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "queue.PrepJob{%s, raw %d bytes (redacted)}", j.ApplicationID, len(j.Raw))
}

// LogValue redacts Image.
func (c Claim) LogValue() slog.Value {
	return slog.GroupValue(slog.String("application_id", c.ApplicationID), slog.String("reader", c.Reader),
		slog.String("serial", c.Serial), slog.Int("attempt", c.Attempt), slog.String("state", string(c.State)),
		slog.Bool("write_started", c.WriteStarted))
}

// Format redacts Image for every fmt verb.
func (c Claim) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "queue.Claim{%s reader %q card %s attempt %d %s write_started=%t, image %d bytes (redacted)}",
		c.ApplicationID, c.Reader, c.Serial, c.Attempt, c.State, c.WriteStarted, len(c.Image))
}
