package station

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/cccd-station/station/pcsc"
	"github.com/cccd-station/station/personalization"
	"github.com/cccd-station/station/queue"
)

// Metrics name failures for what they are, not for the step they happened
// in: a record that failed after sealing is not a verification failure, a
// lost PC/SC service is not a write failure.
func TestSpoilClassNamesWhatFailed(t *testing.T) {
	cases := []struct {
		f    personalization.Failure
		want string
	}{
		{personalization.Failure{Step: personalization.StepVerify, Err: fmt.Errorf("after sealing: %w", recordErr(fmt.Errorf("%w: MarkVerifying", queue.ErrUnavailable)))}, "record_failed"},
		{personalization.Failure{Step: personalization.StepWrite, Err: fmt.Errorf("UPDATE BINARY: %w", pcsc.ErrNoService)}, "pcsc_unavailable"},
		{personalization.Failure{Step: personalization.StepSeal, Err: pcsc.ErrReaderGone}, "reader_gone"},
		{personalization.Failure{Step: personalization.StepWrite, Err: pcsc.ErrCardRemoved}, "card_removed"},
		{personalization.Failure{Step: personalization.StepWrite, Err: pcsc.ErrMemoryFailure}, "memory_failure"},
		{personalization.Failure{Step: personalization.StepWrite, Err: personalization.ErrReadBack}, "readback_mismatch"},
		{personalization.Failure{Step: personalization.StepSeal, Err: errors.New("6985")}, "seal_failed"},
		{personalization.Failure{Step: personalization.StepVerify, Err: errors.New("AA signature")}, "verification_failed"},
		{personalization.Failure{Step: personalization.StepWrite, Err: errors.New("6A84")}, "write_failed"},
	}
	for _, c := range cases {
		if got := SpoilClass(&c.f); got != c.want {
			t.Errorf("%s %v: class %q, want %q", c.f.Step, c.f.Err, got, c.want)
		}
		if !slices.Contains(SpoilClasses, c.want) {
			t.Errorf("class %q is not in SpoilClasses", c.want)
		}
	}
}
