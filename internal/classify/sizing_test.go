package classify

import (
	"testing"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Leak counts come from the server's counts where it counted over the
// whole table, and from the records read back where it could not.
func TestSize(t *testing.T) {
	rows := datastore.Rows{Columns: []string{"doc"}, Values: [][]string{
		{"aws_access_key_id = AKIAZ4RT7QWPL2MXK5VB"},
		{"nothing"},
		{`"AccessKeyId":"ASIAQ3MNB7VCX2ZLK4JH"`},
		{"aws_access_key_id = AKIAZ4RT7QWPL2MXK5VB"},
	}, Counts: map[string]int64{"AKIA": 900, "ASIA": 40, ExactKey("aws-access-key-id"): 812}}
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	e := Default().WithKey(key)
	for _, tc := range []struct {
		name    string
		sizing  Sizing
		want    int64
		counted string
	}{
		{"server", Server, 812, "server"}, // the rule's exact count beats its keywords'
		{"sample", Sample, 3, "sample"},   // rows read holding the kind
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tb datastore.Table
			found := e.Size(&tb, rows, tc.sizing, 0)
			if tb.Leaks["aws"] != tc.want || tb.LeaksCounted != tc.counted {
				t.Errorf("Size(%s) leaks %v counted by %q, want aws %d by %q", tc.name, tb.Leaks, tb.LeaksCounted, tc.want, tc.counted)
			}
			if len(found) != 2 || found[0].Occurrences != 2 || found[0].Row != 1 || found[0].Column != "doc" {
				t.Errorf("Size(%s) found %+v, want 2 values, the first seen twice from row 1 of doc", tc.name, found)
			}
			if len(tb.Classes) != 1 || tb.Classes[0] != "secret" {
				t.Errorf("Size(%s) classes %q, want [secret]", tc.name, tb.Classes)
			}
		})
	}
	t.Run("estimate", func(t *testing.T) {
		var tb datastore.Table
		est := rows
		est.Estimated = true
		e.Size(&tb, est, Server, 0)
		if tb.Leaks["aws"] != 812 || tb.LeaksCounted != "estimate" {
			t.Errorf("Size(scaled server counts) leaks %v counted by %q, want aws 812 by \"estimate\"", tb.Leaks, tb.LeaksCounted)
		}
	})
	t.Run("cap", func(t *testing.T) {
		var tb datastore.Table
		if found := e.Size(&tb, rows, Server, MaxDetections); len(found) != 0 || tb.Leaks["aws"] != 812 {
			t.Errorf("Size with the server's detections all listed = %d found, leaks %v; want none listed, still sized", len(found), tb.Leaks)
		}
	})
}
