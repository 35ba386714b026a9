package main

import (
	"slices"
	"testing"

	"github.com/leakhound/leakhound/internal/lab"
)

// A secret whose name is in another column, and a token past byte 8,192 of
// a value, are found by a scan of the open server.
func TestScanKeyValueTable(t *testing.T) {
	requireLab(t)
	_, out, stderr := scanCLI(t, lab.Open.Host+":8123", "-f", "jsonl")
	fs := decodeFindings(t, out)
	if len(fs) != 1 {
		t.Fatalf("scan %s:8123 found %d services, want 1:\n%s", lab.Open.Host, len(fs), stderr)
	}
	f := fs[0]
	present := false
	for _, db := range f.Inventory.Databases {
		for _, tb := range db.Tables {
			present = present || db.Name == "default" && tb.Name == lab.KeyValueTable
		}
	}
	if !present {
		t.Skipf("the lab was seeded without default.%s: seed it again (scripts/lab)", lab.KeyValueTable)
	}
	tb := findTable(t, f, "default", lab.KeyValueTable)
	if tb.Rows != 3 || !tb.RowsExact {
		t.Errorf("%s: rows %d exact %v, want 3 counted", lab.KeyValueTable, tb.Rows, tb.RowsExact)
	}
	var kinds []string
	for _, d := range f.Detections {
		if d.Location.Table == lab.KeyValueTable && d.Location.Column == "v" {
			kinds = append(kinds, d.Kind)
		}
	}
	for _, want := range []string{"aws", "github"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("%s.v: detections of kinds %q, want %s", lab.KeyValueTable, kinds, want)
		}
	}
}
