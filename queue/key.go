package queue

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Key is the station's 256-bit data key. From it the store derives (HKDF,
// RFC 5869) one AES-256-GCM key for personal data and one HMAC key for
// content fingerprints. It never prints: every fmt verb and slog show
// "REDACTED".
type Key [32]byte

// Format redacts the key for every fmt verb (%v, %x, %s, %#v...).
func (Key) Format(f fmt.State, _ rune) { io.WriteString(f, "queue.Key(REDACTED)") }

// LogValue redacts the key in slog.
func (Key) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// maxKeyFile bounds what LoadKey reads: a key file is at most a line of
// base64 or hex.
const maxKeyFile = 1024

// LoadKey reads the key from exactly one source: file (a path) or env (the
// NAME of an environment variable). A file must not be readable by group or
// others (mode&0o077 == 0); it holds 32 raw bytes, or 64 hex digits, or the
// base64 of 32 bytes (a trailing newline is fine). An environment variable
// holds hex or base64. Errors wrap ErrKey and never show key material.
func LoadKey(file, env string) (Key, error) {
	switch {
	case file != "" && env != "":
		return Key{}, fmt.Errorf("%w: give the key as a file or as an environment variable, not both", ErrKey)
	case file == "" && env == "":
		return Key{}, fmt.Errorf("%w: no key source: give a key file or the name of an environment variable", ErrKey)
	case file != "":
		return loadKeyFile(file)
	}
	v, ok := os.LookupEnv(env)
	if !ok || strings.TrimSpace(v) == "" {
		return Key{}, fmt.Errorf("%w: environment variable %s is not set", ErrKey, env)
	}
	k, problem := parseKeyText([]byte(v))
	if problem != "" {
		return Key{}, fmt.Errorf("%w: environment variable %s: %s", ErrKey, env, problem)
	}
	return k, nil
}

func loadKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("%w: opening key file: %w", ErrKey, err)
	}
	defer f.Close()
	// Stat the open file, not the path: what is checked is what is read.
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("%w: key file %s: %w", ErrKey, path, err)
	}
	if !fi.Mode().IsRegular() {
		return Key{}, fmt.Errorf("%w: key file %s is not a regular file", ErrKey, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("%w: key file %s has mode %04o: group or others may read it; refusing it (chmod 600 %s, and consider the key compromised)",
			ErrKey, path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return Key{}, fmt.Errorf("%w: reading key file %s: %w", ErrKey, path, err)
	}
	defer clear(data)
	if len(data) > maxKeyFile {
		return Key{}, fmt.Errorf("%w: key file %s is larger than %d bytes: not a key", ErrKey, path, maxKeyFile)
	}
	var k Key
	if len(data) == len(k) {
		copy(k[:], data)
		if k == (Key{}) {
			return Key{}, fmt.Errorf("%w: key file %s holds an all-zero key", ErrKey, path)
		}
		return k, nil
	}
	k, problem := parseKeyText(data)
	if problem != "" {
		return Key{}, fmt.Errorf("%w: key file %s: %s", ErrKey, path, problem)
	}
	return k, nil
}

// parseKeyText decodes 64 hex digits or the base64 (standard or URL
// alphabet, padded or not) of 32 bytes. The problem it reports never holds
// the text: decoder errors name the offending character, so they are not
// wrapped.
func parseKeyText(text []byte) (Key, string) {
	var k Key
	s := strings.TrimSpace(string(text))
	if len(s) == 2*len(k) {
		if n, err := hex.Decode(k[:], []byte(s)); err == nil && n == len(k) {
			if k == (Key{}) {
				return Key{}, "an all-zero key"
			}
			return k, ""
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil && len(b) == len(k) {
			copy(k[:], b)
			clear(b)
			if k == (Key{}) {
				return Key{}, "an all-zero key"
			}
			return k, ""
		}
		clear(b)
	}
	return Key{}, fmt.Sprintf("not 32 raw bytes, 64 hex digits or the base64 of 32 bytes (%d characters)", len(s))
}

// GenerateKeyFile creates a new random key and writes it to path as 64 hex
// digits and a newline, with mode 0600. It refuses to overwrite a file.
func GenerateKeyFile(path string) (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("%w: generating: %w", ErrKey, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Key{}, fmt.Errorf("%w: key file %s already exists: refusing to overwrite it", ErrKey, path)
		}
		return Key{}, fmt.Errorf("%w: creating key file: %w", ErrKey, err)
	}
	text := make([]byte, 2*len(k)+1)
	hex.Encode(text, k[:])
	text[len(text)-1] = '\n'
	err = f.Chmod(0o600) // exactly 0600 whatever the umask
	if err == nil {
		_, err = f.Write(text)
	}
	clear(text)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(path)
		return Key{}, fmt.Errorf("%w: writing key file %s: %w", ErrKey, path, err)
	}
	return k, nil
}

// syncDir makes a directory entry (a created or renamed file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// sealer encrypts personal data at rest: AES-256-GCM (NIST SP 800-38D)
// with a fresh random 96-bit nonce per value and additional data naming the
// row and column, so that a ciphertext moved to another row or column does
// not open. A sealed value is version(1) || nonce(12) || ciphertext || tag(16).
type sealer struct {
	aead   cipher.AEAD
	macKey []byte
}

const sealVersion = 1

func newSealer(k Key) (*sealer, error) {
	if k == (Key{}) {
		return nil, fmt.Errorf("%w: the key is all zeros (not loaded?)", ErrKey)
	}
	encKey, err := hkdf.Key(sha256.New, k[:], nil, "cccd-station queue v1: AES-256-GCM personal data", 32)
	if err != nil {
		return nil, fmt.Errorf("%w: deriving: %w", ErrKey, err)
	}
	macKey, err := hkdf.Key(sha256.New, k[:], nil, "cccd-station queue v1: content MAC", 32)
	if err != nil {
		return nil, fmt.Errorf("%w: deriving: %w", ErrKey, err)
	}
	block, err := aes.NewCipher(encKey)
	clear(encKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return &sealer{aead: aead, macKey: macKey}, nil
}

// seal encrypts plain bound to ad ("application:<id>:raw").
func (s *sealer) seal(ad string, plain []byte) []byte {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1 : 1+ns]); err != nil {
		panic("queue: crypto/rand failed: " + err.Error()) // never returns an error since Go 1.24
	}
	return s.aead.Seal(out, out[1:1+ns], plain, []byte(ad))
}

// open decrypts a sealed value bound to ad. A wrong key, a changed byte or
// a value moved from another row all fail authentication: the error wraps
// ErrKey, never garbage.
func (s *sealer) open(ad string, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: %s: not a sealed value of this store", ErrKey, ad)
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(ad))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: authentication failed (wrong key, or the stored value was changed or moved)", ErrKey, ad)
	}
	return plain, nil
}

// contentMAC is what the store keeps of an application's content hash for
// intake idempotency: HMAC-SHA-256 under a key derived from the station
// key, bound to the id. Kept after purge (so a re-sent purged id is still
// told apart from a conflicting one) yet no dictionary target without the
// key.
func (s *sealer) contentMAC(id string, h [32]byte) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(id))
	m.Write([]byte{0})
	m.Write(h[:])
	return m.Sum(nil)
}

func adRaw(id string) string   { return "application:" + id + ":raw" }
func adImage(id string) string { return "application:" + id + ":image" }

const adKeyCheck = "meta:key_check"

var keyCheckPlain = []byte("cccd-station queue key check v1")

// checkKey reports whether sealed (the meta key check) opens with this key.
func (s *sealer) checkKey(sealed []byte) error {
	p, err := s.open(adKeyCheck, sealed)
	if err != nil || !bytes.Equal(p, keyCheckPlain) {
		return fmt.Errorf("%w: this key does not open this database (it was created with another key)", ErrKey)
	}
	return nil
}
