package application

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
)

// ContentHash identifies an application's content for intake idempotency:
// the SHA-256 of its canonical JSON (keys sorted, no insignificant space,
// numbers as written), so that the same application sent again with other
// key order or spacing is recognized as the same. ok is false when data is
// not JSON; the hash is then of the bytes as they are.
func ContentHash(data []byte) (sum [32]byte, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return sha256.Sum256(data), false
	}
	canon, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		return sha256.Sum256(data), false
	}
	return sha256.Sum256(canon), true
}

// PeekID returns application_id and batch_id from a document that may not
// be valid, so that a rejected application can still be reported under its
// id. Empty strings when they cannot be read.
func PeekID(data []byte) (id, batch string) {
	var w struct {
		ID    any `json:"application_id"`
		Batch any `json:"batch_id"`
	}
	if json.Unmarshal(data, &w) != nil {
		return "", ""
	}
	if s, ok := w.ID.(string); ok && len(s) <= textLimit["application_id"] && idPattern.MatchString(s) {
		id = s
	}
	if s, ok := w.Batch.(string); ok && len(s) <= textLimit["batch_id"] && idPattern.MatchString(s) {
		batch = s
	}
	return id, batch
}
