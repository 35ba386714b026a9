package memcached

import (
	"strings"
	"testing"
)

// FuzzParsers feeds every parser of what a server sends one line or
// header: none may panic, and what they return stays within the line.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{
		"key=session%3Aa exp=-1 la=1 cas=1 fetch=no cls=1 size=70",
		"key=%ZZ size=-1", "VALUE k 0 5", "VALUE k 0 99999999999999999999 7", "STAT pid 42", "VERSION 1.6.18",
		"SERVER_ERROR out of memory", "\x81\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, l string) {
		if it, err := parseMetadump(l); err == nil && (it.Key == "" || len(it.Key) > len(l)) {
			t.Errorf("parseMetadump(%q) = key %q", l, it.Key)
		}
		if k, n, err := valueHead(l); err == nil && (n < 0 || !strings.Contains(l, k)) {
			t.Errorf("valueHead(%q) = %q, %d", l, k, n)
		}
		parseStat(l)
		if v, err := parseVersionLine(l); err == nil && !versionLike(v) {
			t.Errorf("parseVersionLine(%q) = %q", l, v)
		}
		if h, err := parseBinHeader([]byte(l)); err == nil && uint32(h.keyLen)+uint32(h.extLen) > h.bodyLen {
			t.Errorf("parseBinHeader(%q) = %+v: key and extras past the body", l, h)
		}
	})
}
