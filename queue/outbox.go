package queue

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Pusher delivers the event feed to a webhook (the optional outbox): it
// POSTs {"events":[...]} with the events after the durable outbox cursor,
// in order; a 2xx answer advances the cursor durably; anything else is
// retried, the same batch, after an exponential backoff capped at
// MaxBackoff. Delivery is at least once: a crash between central's 2xx and
// the cursor's commit sends that batch again, so central deduplicates by
// cursor (seq).
type Pusher struct {
	Store      *Store
	URL        string
	Client     *http.Client  // default: a client with a 30 s timeout
	Token      string        // sent as "Authorization: Bearer TOKEN" when set
	Batch      int           // events per POST (default 100, at most 1000)
	MinBackoff time.Duration // default 1 s
	MaxBackoff time.Duration // default 5 min
	Log        *slog.Logger  // default: discarded

	// sleep waits d or until ctx is done (tests count the waits).
	sleep func(ctx context.Context, d time.Duration)
}

// Run pushes until ctx is done (then it returns nil). It wakes on
// Store.Changed, so a new event leaves within a round trip.
func (p *Pusher) Run(ctx context.Context) error {
	if p.Store == nil || p.URL == "" {
		return fmt.Errorf("%w: pusher without a store or a URL", ErrInvalid)
	}
	client := p.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	batch := clampLimit(p.Batch, 100, 1000)
	minB, maxB := p.MinBackoff, p.MaxBackoff
	if minB <= 0 {
		minB = time.Second
	}
	if maxB <= 0 {
		maxB = 5 * time.Minute
	}
	maxB = max(maxB, minB)
	log := p.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sleep := p.sleep
	if sleep == nil {
		sleep = func(ctx context.Context, d time.Duration) {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
		}
	}
	failures := 0
	backoff := func() {
		d := minB
		for i := 1; i < failures && d < maxB; i++ {
			d *= 2
		}
		sleep(ctx, min(d, maxB))
	}
	for ctx.Err() == nil {
		wake := p.Store.Changed() // before reading: no change is missed
		cursor, err := p.Store.OutboxCursor(ctx)
		var evs []Event
		if err == nil {
			evs, err = p.Store.Events(ctx, cursor, batch)
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			log.Warn("queue: outbox: reading events", "cursor", cursor, "err", err)
			backoff()
			continue
		}
		if len(evs) == 0 {
			select {
			case <-ctx.Done():
			case <-wake:
			}
			continue
		}
		if err := p.post(ctx, client, evs); err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			log.Warn("queue: outbox: push failed; retrying", "first", evs[0].Seq, "last", evs[len(evs)-1].Seq, "failures", failures, "err", err)
			backoff()
			continue
		}
		if err := p.Store.setOutboxCursor(ctx, evs[len(evs)-1].Seq); err != nil {
			if ctx.Err() != nil {
				break
			}
			failures++
			log.Warn("queue: outbox: storing the cursor", "err", err)
			backoff()
			continue
		}
		failures = 0
	}
	return nil
}

func (p *Pusher) post(ctx context.Context, client *http.Client, evs []Event) error {
	body, err := json.Marshal(struct {
		Events []Event `json:"events"`
	}{evs})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.Token != "" {
		req.Header.Set("Authorization", "Bearer "+p.Token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// OutboxCursor is the seq of the last event the webhook acknowledged.
func (s *Store) OutboxCursor(ctx context.Context) (int64, error) {
	var c int64
	err := s.r.QueryRowContext(ctx, "SELECT value FROM meta WHERE name = 'outbox_cursor'").Scan(&c)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("queue: reading the outbox cursor: %w", err)
	}
	return c, nil
}

// setOutboxCursor advances the cursor durably (never backwards).
func (s *Store) setOutboxCursor(ctx context.Context, c int64) error {
	return s.write(ctx, "setOutboxCursor", func(w *wtx) error {
		if _, err := w.exec(`INSERT INTO meta (name, value) VALUES ('outbox_cursor', ?)
			ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`, c); err != nil {
			return fmt.Errorf("queue: storing the outbox cursor: %w", err)
		}
		return nil
	})
}
