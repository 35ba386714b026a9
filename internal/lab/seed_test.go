package lab

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/classify"
)

// TestPlantedKindsAreDetectable checks the generator against the engine,
// without a server: every kind it plants must be found in its rows, as the
// server returns them (arrays joined, TSV and array escaping undone).
func TestPlantedKindsAreDetectable(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteLogStream(&buf, 20000, 1); err != nil {
		t.Fatal(err)
	}
	e := classify.Default()
	found := map[string]bool{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		values := unescapeArray(f[3])
		for _, d := range e.Scan(values) {
			found[d.Kind] = true
		}
	}
	for _, k := range append(append([]string(nil), SecretKinds...), PIIKinds...) {
		if !found[k] {
			t.Errorf("no %s found in 20000 generated rows; found %v", k, found)
		}
	}
}

// unescapeArray turns ['a','b'] into "a\nb", undoing the quote escapes.
func unescapeArray(s string) string {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "['"), "']")
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			out.WriteByte(s[i])
		case strings.HasPrefix(s[i:], "','"):
			out.WriteByte('\n')
			i += 2
		default:
			out.WriteByte(s[i])
		}
	}
	return out.String()
}

// The key/value table tests what it says: its secret is found only with its
// key beside it, and its token starts past byte 8,192 of the value.
func TestKeyValueTableSeed(t *testing.T) {
	var tbl *table
	for _, x := range tables() {
		if x.name == KeyValueTable {
			tbl = &x
		}
	}
	if tbl == nil {
		t.Fatalf("no lab table %s", KeyValueTable)
	}
	var buf bytes.Buffer
	if err := tbl.fill(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != tbl.rows {
		t.Fatalf("%s: %d rows generated, want %d", KeyValueTable, len(lines), tbl.rows)
	}
	e := classify.Default()
	kinds := func(s string) (out []string) {
		for _, d := range e.Scan(s) {
			out = append(out, d.Kind)
		}
		return out
	}
	k, v, _ := strings.Cut(lines[1], "\t")
	if got := kinds(v); len(got) != 0 {
		t.Errorf("%s row 2: the value alone is found as %q, want nothing (the key is the context)", KeyValueTable, got)
	}
	if got := kinds(k + " = " + v); !slices.Contains(got, "aws") {
		t.Errorf("%s row 2: key = value found as %q, want aws", KeyValueTable, got)
	}
	_, long, _ := strings.Cut(lines[2], "\t")
	if i := strings.Index(long, "ghp_"); i < 8192 || !slices.Contains(kinds(long), "github") {
		t.Errorf("%s row 3: token at byte %d, kinds %q; want github past byte 8192", KeyValueTable, i, kinds(long))
	}
}
