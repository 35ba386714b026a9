package mongodb

import (
	"bytes"
	"slices"
	"testing"
)

func TestBSONRoundTrip(t *testing.T) {
	enc, err := doc{{"s", "héllo"}, {"i", int32(-7)}, {"l", int64(1) << 40}, {"f", 2.5}, {"b", true}, {"n", nil},
		{"d", doc{{"x", "y"}}}, {"a", arr{"p", int32(1)}}}.encode()
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodeDocument(enc)
	if err != nil {
		t.Fatalf("decodeDocument(our own encoding) = %v", err)
	}
	if d.Str("s") != "héllo" || d.Int("i") != -7 || d.Int("l") != 1<<40 || d.Sub("d").Str("x") != "y" || len(d.Sub("a")) != 2 {
		t.Errorf("round trip = %+v", d)
	}
	if f, _ := d.Number("f"); f != 2.5 {
		t.Errorf("f = %v, want 2.5", f)
	}
}

// TestFlattenPaths: a detection's location names the field path with the
// array index (messages.1.content); the fields searched drop the index, and
// never hold a name the query language reads as an operator.
func TestFlattenPaths(t *testing.T) {
	enc, _ := doc{{"_id", int32(1)}, {"messages", arr{doc{{"role", "user"}, {"content", "你好"}}, doc{{"role", "assistant"}, {"content", "sk-abc"}}}},
		{"$where", "sleep(1000)"}, {"a.b", "dotted"}, {"meta", doc{{"tags", arr{"x", "y"}}}}}.encode()
	d, err := decodeDocument(enc)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	flatten(d, "", func(p, _ string) { paths = append(paths, p) }, 0)
	for _, want := range []string{"messages.1.content", "messages.0.role", "meta.tags.1"} {
		if !slices.Contains(paths, want) {
			t.Errorf("flatten paths %q lack %q", paths, want)
		}
	}
	fields := textFields([]Document{d})
	want := []string{"messages.role", "messages.content", "meta.tags"}
	if !slices.Equal(fields, want) {
		t.Errorf("textFields = %q, want %q (no $where, no dotted name)", fields, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":            nil,
		"claims more":      {0xff, 0, 0, 0, 0},
		"no NUL at end":    {5, 0, 0, 0, 1},
		"string too long":  append([]byte{14, 0, 0, 0, 2, 'a', 0, 0xff, 0xff, 0, 0, 'x', 0}, 0),
		"unknown type":     {8, 0, 0, 0, 0x42, 'a', 0, 0},
		"negative length":  {0xf0, 0xff, 0xff, 0xff, 0},
		"nested too deep":  deep(maxDepth + 5),
		"trailing garbage": append(mustEncode(doc{{"a", "b"}}), 1, 2, 3),
	} {
		if _, err := decodeDocument(b); err == nil {
			t.Errorf("decodeDocument(%s) = nil error, want one", name)
		}
	}
}

func mustEncode(d doc) []byte { b, _ := d.encode(); return b }

// deep is a document nested n levels.
func deep(n int) []byte {
	b := []byte{5, 0, 0, 0, 0}
	for range n {
		inner := b
		var out bytes.Buffer
		l := 4 + 1 + 2 + len(inner) + 1
		out.Write([]byte{byte(l), byte(l >> 8), byte(l >> 16), byte(l >> 24), 0x03, 'd', 0})
		out.Write(inner)
		out.WriteByte(0)
		b = out.Bytes()
	}
	return b
}
