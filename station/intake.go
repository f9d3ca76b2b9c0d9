package station

import (
	"context"
	"errors"
	"fmt"

	"github.com/cccd-station/station/application"
	"github.com/cccd-station/station/queue"
)

// ErrUnidentifiable: an application without a usable application_id cannot
// be stored or reported; the request is refused as a whole for that item.
var ErrUnidentifiable = errors.New("application has no usable application_id")

// Intake validates applications as central sent them and stores them in one
// transaction: valid ones as validated, invalid ones as rejected with every
// problem (reported like any status), the same content again as its current
// state, other content under a known id as a conflict. Nothing is stored
// for a document without a usable application_id.
func (s *Station) Intake(ctx context.Context, docs [][]byte) ([]IntakeResult, error) {
	results := make([]IntakeResult, len(docs))
	var subs []queue.Submission
	var index []int
	for i, doc := range docs {
		id, batch := application.PeekID(doc)
		if id == "" {
			results[i] = IntakeResult{Err: ErrUnidentifiable}
			continue
		}
		sum, _ := application.ContentHash(doc)
		sub := queue.Submission{ApplicationID: id, BatchID: batch, ContentHash: sum, Raw: doc}
		if _, err := application.Parse(doc, s.rules()); err != nil {
			var ve *application.ValidationError
			if !errors.As(err, &ve) {
				return nil, fmt.Errorf("intake: %w", err)
			}
			for _, p := range ve.Problems {
				sub.Problems = append(sub.Problems, queue.Problem{Field: p.Field, Rule: p.Rule})
			}
		}
		subs = append(subs, sub)
		index = append(index, i)
	}
	if len(subs) == 0 {
		return results, nil
	}
	stored, err := s.store.Submit(ctx, subs)
	if err != nil {
		return nil, err
	}
	for k, r := range stored {
		i := index[k]
		results[i] = IntakeResult{ApplicationID: r.ApplicationID, State: r.State, Reason: r.Reason, Created: r.Created, Err: r.Err}
		if r.State == queue.StateRejected {
			results[i].Problems = subs[k].Problems
		}
	}
	s.wake()
	return results, nil
}

func (s *Station) rules() application.Rules {
	return application.Rules{Policy: s.opt.Policy, Now: s.opt.Now}
}
