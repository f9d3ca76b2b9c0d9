package api

import "github.com/cccd-station/station/queue"

// The store the daemon gives the API satisfies Store.
var _ Store = (*queue.Store)(nil)

func storeFor(s *queue.Store, _ Control) Store { return s }
