package application

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckDuplicateKeysRefusesAKeyTwiceAtAnyDepthWithoutNamingIt(t *testing.T) {
	for _, doc := range []string{
		`{"cursor":1,"cursor":2}`,
		`{"cursor":1,"curso\u0072":2}`,
		`{"a":{"secret-key-name":1,"secret-key-name":2}}`,
		`{"a":[{"b":1},{"c":1,"c":2}]}`,
	} {
		err := CheckDuplicateKeys([]byte(doc))
		if !errors.Is(err, ErrDuplicateKey) {
			t.Errorf("%s: %v", doc, err)
		}
		if err != nil && (strings.Contains(err.Error(), "cursor") || strings.Contains(err.Error(), "secret")) {
			t.Errorf("the error names the key: %v", err)
		}
	}
	for _, doc := range []string{`{"cursor":1}`, `{"a":{"b":1},"b":{"a":1}}`, `[{"a":1},{"a":2}]`, `{"a":`} {
		if err := CheckDuplicateKeys([]byte(doc)); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
}
