package classify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testKey is a fixed key: tests never touch the user's key file.
func testKey(t testing.TB) Key {
	t.Helper()
	k, err := ParseKey("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// noKeyEnv makes LoadKey see neither the environment's key nor the user's
// config directory.
func noKeyEnv(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("HOME", dir)
	t.Setenv(KeyEnv, "")
	os.Unsetenv(KeyEnv)
	return dir
}

const card = "4526 0181 5908 3012"

func TestFingerprintIsKeyed(t *testing.T) {
	text := "card " + card + " exp 12/29"
	a := Default().WithKey(testKey(t))
	other, err := ParseKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	b := Default().WithKey(other)
	da, db := a.Scan(text), b.Scan(text)
	if len(da) != 1 || len(db) != 1 {
		t.Fatalf("Scan = %+v and %+v, want one card each", da, db)
	}
	sum := sha256.Sum256([]byte(card))
	switch fp := da[0].Fingerprint; {
	case fp == hex.EncodeToString(sum[:]):
		t.Errorf("Fingerprint is the bare SHA-256 of the card: anyone can reverse it by trying every card")
	case len(fp) != 64:
		t.Errorf("Fingerprint = %q, want 64 hex digits", fp)
	case fp == db[0].Fingerprint:
		t.Errorf("two keys give the same fingerprint %s", fp)
	}
	// The same value under the same key matches across scans and engines
	// (and so across machines: nothing but the key and value goes in).
	again := Default().WithKey(testKey(t)).Scan("{\"pan\":\"" + card + "\"}")
	if len(again) != 1 || again[0].Fingerprint != da[0].Fingerprint {
		t.Errorf("the same card under the same key: %+v, want fingerprint %s", again, da[0].Fingerprint)
	}
	// Fixed for all time, and what any HMAC tool prints:
	// printf %s "$card" | openssl dgst -sha256 -mac HMAC -macopt hexkey:0001…1f
	if want := "8fe5e988ee341bd0f1d27a05cbd58c594ddd85c41bb8c6b7d7084865f313f6f0"; da[0].Fingerprint != want {
		t.Errorf("Fingerprint = %s, want %s", da[0].Fingerprint, want)
	}
}

func TestUnkeyedEngineFingerprintsNothing(t *testing.T) {
	ds := Default().Scan("card " + card)
	if len(ds) != 1 || ds[0].Fingerprint != "" {
		t.Errorf("Default().Scan = %+v, want one card with no fingerprint", ds)
	}
	if Default().Keyed() || !Default().WithKey(testKey(t)).Keyed() {
		t.Errorf("Keyed: want false without a key, true with one")
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	k := testKey(t)
	for _, s := range []string{k.String(), k.GoString()} {
		if strings.Contains(s, "0001020304") {
			t.Errorf("key printed as %q", s)
		}
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{strings.Repeat("0f", 32), ""},
		{" " + strings.Repeat("0F", 16) + "\n", ""},
		{strings.Repeat("0f", 15), "at least 16"},
		{"zz" + strings.Repeat("0f", 31), "not hex"},
		{"", "at least 16"},
	}
	for _, tt := range tests {
		_, err := ParseKey(tt.in)
		if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseKey(%q) = %v, want error containing %q", tt.in, err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "0f") {
			t.Errorf("ParseKey error %q quotes the key", err)
		}
	}
}

func TestLoadKeyOrder(t *testing.T) {
	noKeyEnv(t)
	flagKey, envKey := strings.Repeat("11", 32), strings.Repeat("22", 32)
	fp := func(k Key) string { return Default().WithKey(k).Fingerprint("x") }
	want := func(h string) string { k, _ := ParseKey(h); return fp(k) }

	t.Setenv(KeyEnv, envKey)
	k, err := LoadKey(flagKey, nil)
	if err != nil || fp(k) != want(flagKey) {
		t.Errorf("LoadKey(flag) with env set = %v, %v; want the flag's key", k, err)
	}
	k, err = LoadKey("", nil)
	if err != nil || fp(k) != want(envKey) {
		t.Errorf("LoadKey(\"\") with env set = %v, %v; want the env's key", k, err)
	}
	if _, err := LoadKey("12345", nil); err == nil || !strings.Contains(err.Error(), "--fingerprint-key") {
		t.Errorf("LoadKey(bad flag) = %v, want an error naming --fingerprint-key", err)
	}
	t.Setenv(KeyEnv, "nothex")
	if _, err := LoadKey("", nil); err == nil || !strings.Contains(err.Error(), KeyEnv) {
		t.Errorf("LoadKey with a bad %s = %v, want an error naming it", KeyEnv, err)
	}
}

func TestLoadKeyMakesAFileOnce(t *testing.T) {
	dir := noKeyEnv(t)
	var notes []string
	note := func(s string) { notes = append(notes, s) }
	k1, err := LoadKey("", note)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "leakhound", "fingerprint.key")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no key file at %s: %v", path, err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %#o, want 0600", st.Mode().Perm())
	}
	if dst, _ := os.Stat(filepath.Dir(path)); dst.Mode().Perm() != 0o700 {
		t.Errorf("key directory mode %#o, want 0700", dst.Mode().Perm())
	}
	if len(notes) != 1 || !strings.Contains(notes[0], path) {
		t.Errorf("notes = %q, want one naming %s", notes, path)
	}
	k2, err := LoadKey("", note)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 {
		t.Errorf("a second load noted %q: the key file was made again", notes[1:])
	}
	e1, e2 := Default().WithKey(k1), Default().WithKey(k2)
	if e1.Fingerprint(card) != e2.Fingerprint(card) {
		t.Errorf("two loads of the key file give different fingerprints")
	}
	// The file holds the key in hex, so it can be handed to another
	// machine through the environment.
	b, _ := os.ReadFile(path)
	t.Setenv(KeyEnv, string(bytes.TrimSpace(b)))
	k3, err := LoadKey("", nil)
	if err != nil || Default().WithKey(k3).Fingerprint(card) != e1.Fingerprint(card) {
		t.Errorf("the key file's text given as %s: %v, fingerprints differ", KeyEnv, err)
	}
}

func TestLoadKeyRefusesAnOpenFile(t *testing.T) {
	dir := noKeyEnv(t)
	path := filepath.Join(dir, "leakhound", "fingerprint.key")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		body    string
		mode    os.FileMode
		wantErr string
	}{
		{strings.Repeat("ab", 32), 0o644, "chmod 600"},
		{strings.Repeat("ab", 32), 0o640, "chmod 600"},
		{"not a key", 0o600, "not hex"},
		{strings.Repeat("ab", 8), 0o600, "at least 16"},
	} {
		if err := os.WriteFile(path, []byte(tt.body), tt.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, tt.mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKey("", nil)
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("key file mode %#o: LoadKey = %v, want an error naming %s and %q", tt.mode, err, path, tt.wantErr)
		}
	}
}

func TestScanReaderFingerprintsUnderTheKey(t *testing.T) {
	e := Default().WithKey(testKey(t))
	var got []Finding
	if err := e.ScanReader(context.Background(), strings.NewReader("a\ncard "+card+"\n"), "in", func(f Finding) { got = append(got, f) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Fingerprint != e.Fingerprint(card) {
		t.Errorf("ScanReader = %+v, want one card fingerprinted under the key", got)
	}
}

func TestLoadKeyNowhereToKeepIt(t *testing.T) {
	dir := noKeyEnv(t)
	// The config directory is a file: the key cannot be kept there.
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CONFIG_HOME", notDir)
	_, err := LoadKey("", nil)
	if err == nil || !strings.Contains(err.Error(), "--fingerprint-key") || !strings.Contains(err.Error(), notDir) {
		t.Errorf("LoadKey = %v, want an error naming %s and --fingerprint-key", err, notDir)
	}
}

// TestLoadKeyAtOnce: commands started together on a machine with no key
// file yet agree on one key.
func TestLoadKeyAtOnce(t *testing.T) {
	noKeyEnv(t)
	const n = 8
	fps := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := LoadKey("", nil)
			if err != nil {
				t.Error(err)
				return
			}
			fps[i] = Default().WithKey(k).Fingerprint(card)
		})
	}
	wg.Wait()
	for i := range fps {
		if fps[i] != fps[0] {
			t.Fatalf("fingerprints under keys loaded at once differ: %q", fps)
		}
	}
}
