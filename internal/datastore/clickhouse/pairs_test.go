package clickhouse

import (
	"testing"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
)

func TestKeyColumn(t *testing.T) {
	str := func(names ...string) []datastore.Column {
		var out []datastore.Column
		for _, n := range names {
			out = append(out, datastore.Column{Name: n, Type: "String"})
		}
		return out
	}
	arr := []datastore.Column{{Name: "string.names", Type: "Array(String)"}, {Name: "string.values", Type: "Array(String)"}}
	for _, tc := range []struct {
		name  string
		cols  []datastore.Column
		value int
		want  int
	}{
		{"k and v", str("k", "v"), 1, 0},
		{"key and value", str("id", "key", "value"), 2, 1},
		{"name and value", str("name", "value"), 1, 0},
		{"same prefix", str("config_key", "other_key", "config_value"), 2, 0},
		{"Nested names and values", arr, 1, 0},
		{"no key beside", str("note", "value"), 1, -1},
		{"a word ending in val", str("key", "interval"), 1, -1},
		{"scalar key, array values", []datastore.Column{{Name: "key", Type: "String"}, {Name: "value", Type: "Array(String)"}}, 1, -1},
	} {
		if got := keyColumn(tc.cols, tc.value); got != tc.want {
			t.Errorf("keyColumn(%s, %q) = %d, want %d", tc.name, tc.cols[tc.value].Name, got, tc.want)
		}
	}
}

// A Map is read as its text, which keeps each key beside its value: the
// keyword-context rules match it without pairing.
func TestMapTextKeepsKeyContext(t *testing.T) {
	text := `{'region':'cn-north-1','aws_secret_access_key':'wJ4rXUtn9FEMI2K7MDENGbPxRfiCYq8kD3lzQ1Vt'}`
	for _, d := range classify.Default().Scan(text) {
		if d.Kind == "aws" {
			return
		}
	}
	t.Errorf("Scan(a Map's text holding aws_secret_access_key) found no aws secret")
}
