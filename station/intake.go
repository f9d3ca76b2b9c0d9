package station

import (
	"context"
	"errors"
	"runtime"
	"sync"

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
	subs := make([]*queue.Submission, len(docs))
	// Validation (a JPEG decode per picture) runs on every core; the store
	// takes the batch in one transaction.
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, doc := range docs {
		id, batch := application.PeekID(doc)
		if id == "" {
			results[i] = IntakeResult{Err: ErrUnidentifiable}
			continue
		}
		sum, _ := application.ContentHash(doc)
		sub := &queue.Submission{ApplicationID: id, BatchID: batch, ContentHash: sum, Raw: doc}
		subs[i] = sub
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := application.Parse(doc, s.rules()); err != nil {
				var ve *application.ValidationError
				if !errors.As(err, &ve) {
					sub.Problems = []queue.Problem{{Field: "(document)", Rule: "could not be validated"}}
					return
				}
				for _, p := range ve.Problems {
					sub.Problems = append(sub.Problems, queue.Problem{Field: p.Field, Rule: p.Rule, FromInput: p.FromInput})
				}
			}
		}()
	}
	wg.Wait()
	var batch []queue.Submission
	var index []int
	for i, sub := range subs {
		if sub != nil {
			batch = append(batch, *sub)
			index = append(index, i)
		}
	}
	if len(batch) == 0 {
		return results, nil
	}
	stored, err := s.store.Submit(ctx, batch)
	if err != nil {
		return nil, err
	}
	for k, r := range stored {
		i := index[k]
		results[i] = IntakeResult{ApplicationID: r.ApplicationID, State: r.State, Reason: r.Reason, Created: r.Created, Err: r.Err}
		if r.State == queue.StateRejected {
			results[i].Problems = batch[k].Problems
		}
	}
	s.wake()
	return results, nil
}

func (s *Station) rules() application.Rules {
	return application.Rules{Policy: s.opt.Policy, Now: s.opt.Now}
}
