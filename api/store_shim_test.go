package api

import (
	"context"
	"sync"

	"github.com/cccd-station/station/queue"
)

// TODO(api): *queue.Store.PersonalData is being added by the station's
// lead. Until it lands, the tests give the store the method from the
// documents they submitted (and honour purge). When it lands, storeFor
// returns the store itself and this file goes.

var (
	rawMu sync.Mutex
	raws  = map[*queue.Store]map[string][]byte{}
)

type shimStore struct{ *queue.Store }

func storeFor(s *queue.Store, _ Control) Store { return shimStore{s} }

func rememberRaw(s *queue.Store, id string, raw []byte) {
	rawMu.Lock()
	defer rawMu.Unlock()
	if raws[s] == nil {
		raws[s] = map[string][]byte{}
	}
	if _, ok := raws[s][id]; !ok {
		raws[s][id] = raw
	}
}

func (s shimStore) PersonalData(ctx context.Context, id string) ([]byte, error) {
	st, err := s.Status(ctx, id)
	if err != nil {
		return nil, err
	}
	if st.State == queue.StatePurged {
		return nil, queue.ErrNotFound
	}
	rawMu.Lock()
	defer rawMu.Unlock()
	raw, ok := raws[s.Store][id]
	if !ok {
		return nil, queue.ErrNotFound
	}
	return raw, nil
}
