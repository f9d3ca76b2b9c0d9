package signer

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ThalesGroup/crypto11"
)

// SCP03Config says where the SCP03 master keys are kept: the keys each
// chip of the cccd profile is personalized under are diversified from them
// by the chip's serial (personalization/cccd.md §3). Like the Document
// Signer's key: a file for development only, or a PKCS#11 token (an HSM;
// SoftHSM2 in tests), where the keys never leave it.
type SCP03Config struct {
	Backend string `yaml:"backend" json:"backend"` // "file" | "pkcs11"
	// File (file backend): JSON {"kvn": 48, "enc": hex, "mac": hex, "dek":
	// hex}, mode 0600.
	File string `yaml:"file,omitempty" json:"file,omitempty"`
	// pkcs11: the keys labelled <key_label>-enc, -mac, -dek in the token.
	Module     string `yaml:"module,omitempty" json:"module,omitempty"`
	TokenLabel string `yaml:"token_label,omitempty" json:"token_label,omitempty"`
	KeyLabel   string `yaml:"key_label,omitempty" json:"key_label,omitempty"`
	// KVN is the key version number of the keys and KeyBytes their length
	// (pkcs11: 16 or 32, default 16; the file says both itself).
	KVN      int    `yaml:"kvn,omitempty" json:"kvn,omitempty"`
	KeyBytes int    `yaml:"key_bytes,omitempty" json:"key_bytes,omitempty"`
	PINFile  string `yaml:"pin_file,omitempty" json:"pin_file,omitempty"`
	PINEnv   string `yaml:"pin_env,omitempty" json:"pin_env,omitempty"`
}

// SCP03Masters are the three master keys of one key version, as block
// ciphers: in memory (file) or inside the token (pkcs11, one PKCS#11 call
// per block).
type SCP03Masters struct {
	KVN           byte
	ENC, MAC, DEK cipher.Block
	KeyLen        int // bytes: 16 or 32
	Backend       string
	close         func() error
}

// Close releases the token session (pkcs11).
func (m *SCP03Masters) Close() error {
	if m.close != nil {
		return m.close()
	}
	return nil
}

// scp03File is the file backend's JSON.
type scp03File struct {
	KVN int    `json:"kvn"`
	ENC string `json:"enc"`
	MAC string `json:"mac"`
	DEK string `json:"dek"`
}

// OpenSCP03 opens the master keys.
func OpenSCP03(cfg SCP03Config) (*SCP03Masters, error) {
	switch cfg.Backend {
	case "file":
		return openSCP03File(cfg.File)
	case "pkcs11":
		return openSCP03PKCS11(cfg)
	}
	return nil, fmt.Errorf("signer: scp03 backend %q: must be file or pkcs11", cfg.Backend)
}

func openSCP03File(path string) (*SCP03Masters, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signer: scp03 file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signer: scp03 file %s: mode %04o lets others read it; chmod 600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signer: scp03 file: %w", err)
	}
	var f scp03File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("signer: scp03 file %s: not the key file's JSON", path)
	}
	if f.KVN < 1 || f.KVN > 0x7F {
		return nil, fmt.Errorf("signer: scp03 file %s: kvn must be 1-127", path)
	}
	m := &SCP03Masters{KVN: byte(f.KVN), Backend: "file"}
	for _, k := range []struct {
		name string
		hex  string
		dst  *cipher.Block
	}{{"enc", f.ENC, &m.ENC}, {"mac", f.MAC, &m.MAC}, {"dek", f.DEK, &m.DEK}} {
		raw, err := hex.DecodeString(k.hex)
		if err != nil || (len(raw) != 16 && len(raw) != 32) {
			return nil, fmt.Errorf("signer: scp03 file %s: %s must be 16 or 32 bytes of hex", path, k.name)
		}
		if m.KeyLen != 0 && len(raw) != m.KeyLen {
			return nil, fmt.Errorf("signer: scp03 file %s: the three keys must have one length", path)
		}
		m.KeyLen = len(raw)
		if *k.dst, err = aes.NewCipher(raw); err != nil {
			return nil, err
		}
		clear(raw)
	}
	return m, nil
}

// WriteSCP03File makes TEST master keys (random, AES of keyBytes 16 or 32)
// in a new 0600 file.
func WriteSCP03File(path string, kvn byte, keyBytes int) error {
	f := scp03File{KVN: int(kvn)}
	for _, dst := range []*string{&f.ENC, &f.MAC, &f.DEK} {
		k := make([]byte, keyBytes)
		if _, err := rand.Read(k); err != nil {
			return err
		}
		*dst = strings.ToUpper(hex.EncodeToString(k))
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("signer: scp03 file: %w", err)
	}
	if _, err := out.Write(append(b, '\n')); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// SCP03FileKeys reads the raw keys of a file backend (for the test chips
// that must hold them, and for nothing else).
func SCP03FileKeys(path string) (kvn byte, enc, mac, dek []byte, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, nil, nil, nil, fmt.Errorf("signer: scp03 file: %w", err)
	}
	var f scp03File
	if err := json.Unmarshal(b, &f); err != nil {
		return 0, nil, nil, nil, fmt.Errorf("signer: scp03 file %s: not the key file's JSON", path)
	}
	enc, err1 := hex.DecodeString(f.ENC)
	mac, err2 := hex.DecodeString(f.MAC)
	dek, err3 := hex.DecodeString(f.DEK)
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, nil, nil, nil, fmt.Errorf("signer: scp03 file %s: %w", path, err)
	}
	return byte(f.KVN), enc, mac, dek, nil
}

// scp03Labels are the labels of the three keys in a token.
func scp03Labels(prefix string) [3]string {
	return [3]string{prefix + "-enc", prefix + "-mac", prefix + "-dek"}
}

func openSCP03PKCS11(cfg SCP03Config) (*SCP03Masters, error) {
	if cfg.Module == "" || cfg.TokenLabel == "" || cfg.KeyLabel == "" {
		return nil, errors.New("signer: scp03 pkcs11 backend needs module, token_label and key_label")
	}
	if cfg.KVN < 1 || cfg.KVN > 0x7F {
		return nil, errors.New("signer: scp03 pkcs11 backend needs kvn 1-127")
	}
	pin, err := readPIN(Config{PINFile: cfg.PINFile, PINEnv: cfg.PINEnv})
	if err != nil {
		return nil, err
	}
	ctx, err := OpenPKCS11Token(cfg.Module, cfg.TokenLabel, pin)
	if err != nil {
		return nil, err
	}
	keyLen := cfg.KeyBytes
	if keyLen == 0 {
		keyLen = 16
	}
	if keyLen != 16 && keyLen != 32 {
		ctx.Close()
		return nil, errors.New("signer: scp03 pkcs11 backend: key_bytes must be 16 or 32")
	}
	m := &SCP03Masters{KVN: byte(cfg.KVN), KeyLen: keyLen, Backend: "pkcs11", close: ctx.Close}
	for i, dst := range []*cipher.Block{&m.ENC, &m.MAC, &m.DEK} {
		label := scp03Labels(cfg.KeyLabel)[i]
		k, err := ctx.FindKey(nil, []byte(label))
		if err == nil && k == nil {
			err = ErrNoKey
		}
		if err != nil {
			ctx.Close()
			return nil, fmt.Errorf("signer: scp03 key %q: %w", label, mapPKCS11(err))
		}
		*dst = &tokenBlock{k}
	}
	return m, nil
}

// GenerateSCP03PKCS11 makes the three master keys inside a token (AES of
// keyBytes 16 or 32), labelled <prefix>-enc, -mac, -dek.
func GenerateSCP03PKCS11(ctx *crypto11.Context, prefix string, keyBytes int) error {
	for _, label := range scp03Labels(prefix) {
		id := make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return err
		}
		if _, err := ctx.GenerateSecretKeyWithLabel(id, []byte(label), keyBytes*8, crypto11.CipherAES); err != nil {
			return fmt.Errorf("signer: pkcs11 generate %q: %w", label, mapPKCS11(err))
		}
	}
	return nil
}

// tokenBlock is an AES key inside a token as a cipher.Block: one block,
// encrypted with CBC and a zero IV (= ECB) in the token. A token error
// panics, as cipher.Block has no error return; callers recover it
// (personalization/gp's key diversification does).
type tokenBlock struct{ k *crypto11.SecretKey }

func (b *tokenBlock) BlockSize() int { return aes.BlockSize }

func (b *tokenBlock) Encrypt(dst, src []byte) { b.crypt(dst, src, true) }

func (b *tokenBlock) Decrypt(dst, src []byte) { b.crypt(dst, src, false) }

func (b *tokenBlock) crypt(dst, src []byte, enc bool) {
	iv := make([]byte, aes.BlockSize)
	var m cipher.BlockMode
	var err error
	if enc {
		m, err = b.k.NewCBCEncrypter(iv)
	} else {
		m, err = b.k.NewCBCDecrypter(iv)
	}
	if err != nil {
		panic(fmt.Errorf("%w: %w", ErrTokenAbsent, mapPKCS11(err)))
	}
	m.CryptBlocks(dst[:aes.BlockSize], src[:aes.BlockSize])
}
