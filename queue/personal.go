package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// PersonalData returns the application as central sent it, decrypted, for
// a person allowed to see it (the caller checks the role and audits the
// view). ErrNotFound when there is no such application or its personal
// data was purged.
func (s *Store) PersonalData(ctx context.Context, id string) ([]byte, error) {
	var sealed []byte
	err := s.r.QueryRowContext(ctx, "SELECT sealed FROM application_raw WHERE application_id = ?", id).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("queue: reading personal data: %w", err)
	}
	raw, err := s.seal.open(adRaw(id), sealed)
	if err != nil {
		return nil, fmt.Errorf("queue: personal data of %s: %w", id, err)
	}
	return raw, nil
}
