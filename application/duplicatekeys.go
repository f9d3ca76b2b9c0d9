package application

import "errors"

// ErrDuplicateKey: a JSON object names a key twice. It does not say which
// key: callers may pass the error's text to whoever sent the document.
var ErrDuplicateKey = errors.New("application: a JSON object names a key twice")

// CheckDuplicateKeys refuses JSON in which an object names a key twice, at
// any depth (encoding/json keeps the last value silently), with the rule the
// application parser applies. It does not check the syntax: decode for
// that (JSON that does not parse is not refused here).
func CheckDuplicateKeys(data []byte) error {
	if checkDuplicateKeys(data) != nil {
		return ErrDuplicateKey
	}
	return nil
}
