package classify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// Key is the secret a fingerprint is keyed with: a fingerprint is the hex
// HMAC-SHA-256 of a value under it. Without the key, a fingerprint tells
// nothing of the value, however few the values it could be (a card or a
// phone number); with the same key, the same value gives the same
// fingerprint on every machine and in every scan. The zero Key is no key.
type Key struct{ k *hmacKey }

type hmacKey struct {
	b    []byte
	macs sync.Pool // of hash.Hash keyed with b: a MAC reset costs half a new one
}

func newKey(b []byte) Key {
	k := &hmacKey{b: b}
	k.macs.New = func() any { return hmac.New(sha256.New, k.b) }
	return Key{k: k}
}

const (
	// KeyEnv names the environment variable that may hold the key, in hex.
	KeyEnv = "LEAKHOUND_FINGERPRINT_KEY"
	// keyBytes is the size of a key leakhound makes; minKeyBytes the
	// smallest it accepts from a user.
	keyBytes    = 32
	minKeyBytes = 16
	maxKeyBytes = 1024
)

// String never shows the key, so that printing one by mistake leaks nothing.
func (k Key) String() string {
	if k.k == nil {
		return "no fingerprint key"
	}
	return "fingerprint key (hidden)"
}

// GoString keeps %#v from showing the key too.
func (k Key) GoString() string { return k.String() }

// IsZero reports whether k is no key.
func (k Key) IsZero() bool { return k.k == nil }

// ParseKey reads a key written in hex, of at least 16 bytes. Its error
// never quotes the text, which may be a real key with one typo.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	b, err := hex.DecodeString(s)
	switch {
	case err != nil:
		return Key{}, errors.New("is not hex: want 64 hex digits, as `openssl rand -hex 32` prints")
	case len(b) < minKeyBytes:
		return Key{}, fmt.Errorf("is %d bytes: want at least %d (64 hex digits, as `openssl rand -hex 32` prints)", len(b), minKeyBytes)
	case len(b) > maxKeyBytes:
		return Key{}, fmt.Errorf("is %d bytes: want at most %d", len(b), maxKeyBytes)
	}
	return newKey(b), nil
}

// NewKey makes a random key.
func NewKey() (Key, error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return Key{}, fmt.Errorf("making a fingerprint key: %w", err)
	}
	return newKey(b), nil
}

// fingerprint is the hex HMAC-SHA-256 of value under k; "" with no key.
func (k Key) fingerprint(value string) string {
	if k.k == nil {
		return ""
	}
	m := k.k.macs.Get().(hash.Hash)
	m.Reset()
	io.WriteString(m, value)
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	k.k.macs.Put(m)
	return hex.EncodeToString(sum[:])
}

// KeyFile is where LoadKey keeps the key when none is given:
// <user config dir>/leakhound/fingerprint.key (on Linux,
// $XDG_CONFIG_HOME or ~/.config).
func KeyFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no place for the fingerprint key (%w): give --fingerprint-key or %s", err, KeyEnv)
	}
	return filepath.Join(dir, "leakhound", "fingerprint.key"), nil
}

// LoadKey finds the fingerprint key: flagHex (--fingerprint-key) if not
// empty, else $LEAKHOUND_FINGERPRINT_KEY if set and not empty, else the key
// file (KeyFile),
// made with a random key on first use. note is told once, when a new key
// file is written, where it is.
func LoadKey(flagHex string, note func(string)) (Key, error) {
	if flagHex != "" {
		k, err := ParseKey(flagHex)
		if err != nil {
			return Key{}, fmt.Errorf("--fingerprint-key %w", err)
		}
		return k, nil
	}
	if v := os.Getenv(KeyEnv); v != "" {
		k, err := ParseKey(v)
		if err != nil {
			return Key{}, fmt.Errorf("%s %w", KeyEnv, err)
		}
		return k, nil
	}
	path, err := KeyFile()
	if err != nil {
		return Key{}, err
	}
	k, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKeyFile(path, note)
	}
	return k, err
}

// readKeyFile reads a key file, refusing one that others may read: a key
// anyone can read makes every fingerprint under it guessable again.
func readKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Key{}, err
	}
	if err != nil {
		return Key{}, fmt.Errorf("cannot read the fingerprint key (%w): give --fingerprint-key or %s", err, KeyEnv)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("fingerprint key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return Key{}, fmt.Errorf("fingerprint key file %s is not a regular file", path)
	}
	// Windows has no such bits: there the file's ACL is the user's affair.
	if perm := st.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return Key{}, fmt.Errorf("fingerprint key file %s has mode %#o: group or others may read it; run chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4*maxKeyBytes))
	if err != nil {
		return Key{}, fmt.Errorf("fingerprint key file %s: %w", path, err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return Key{}, fmt.Errorf("fingerprint key file %s %w", path, err)
	}
	return k, nil
}

// createKeyFile writes a new random key to path, mode 0600 in a 0700
// directory. Two processes starting at once agree on one key: the file
// appears whole, by a link that fails if another got there first.
func createKeyFile(path string, note func(string)) (Key, error) {
	k, err := NewKey()
	if err != nil {
		return Key{}, err
	}
	dir := filepath.Dir(path)
	cannot := func(err error) error {
		return fmt.Errorf("cannot keep a fingerprint key in %s (%w): give --fingerprint-key or %s", dir, err, KeyEnv)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Key{}, cannot(err)
	}
	tmp, err := os.CreateTemp(dir, ".fingerprint.key.*") // mode 0600
	if err != nil {
		return Key{}, cannot(err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(hex.EncodeToString(k.k.b) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Key{}, cannot(err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKeyFile(path)
		}
		return Key{}, cannot(err)
	}
	if note != nil {
		note(fmt.Sprintf("wrote a new fingerprint key to %s: keep it; to compare fingerprints across machines, give every one the same key (%s or --fingerprint-key)", path, KeyEnv))
	}
	return k, nil
}

// WithKey returns an engine of the same rules whose detections are
// fingerprinted under k. An engine with no key (Default) finds the same
// values and leaves Fingerprint empty.
func (e *Engine) WithKey(k Key) *Engine {
	c := *e
	c.key = k
	return &c
}

// Keyed reports whether e fingerprints what it finds.
func (e *Engine) Keyed() bool { return !e.key.IsZero() }

// Fingerprint is the fingerprint Scan reports for value: the hex
// HMAC-SHA-256 of the exact value under e's key, except for a PEM private
// key, whose fingerprint is that of its canonical form (pemCanonical), so
// that one key matches itself whatever its line breaks. It is "" when e
// has no key.
func (e *Engine) Fingerprint(value string) string {
	if canon, _, ok := pemCanonical(value); ok {
		return e.key.fingerprint(canon)
	}
	return e.key.fingerprint(value)
}

// finish sets what Scan reports of each value found in text: its redacted
// form and its fingerprint.
func (e *Engine) finish(text string, found []Detection) []Detection {
	for i := range found {
		d := &found[i]
		value := text[d.Start:d.End]
		if canon, label, ok := pemCanonical(value); ok {
			d.Redacted = "-----BEGIN " + label + "-----…"
			d.Fingerprint = e.key.fingerprint(canon)
			continue
		}
		// Clone: text may be a view of a buffer that is reused.
		d.Redacted = strings.Clone(Redact(d.Category, d.Kind, value))
		d.Fingerprint = e.key.fingerprint(value)
	}
	return found
}
