package clickhouse

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/lab"
)

func requireLab(t *testing.T) {
	t.Helper()
	if !lab.Enabled() {
		t.Skip("the lab is not up: run scripts/test")
	}
}

// labSession opens a session on one interface of a lab server; nothing it
// runs writes.
func labSession(t *testing.T, srv lab.Server, native bool) *session {
	t.Helper()
	port := srv.HTTPPort
	if native {
		port = srv.NativePort
	}
	ep := datastore.Endpoint{Host: srv.Host, IP: net.ParseIP(srv.Host), Port: port}
	svc, err := Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, 10*time.Second)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone {
		t.Fatalf("Probe(%s) = %+v, %v, want an open service", ep, svc, err)
	}
	sess, err := Driver{}.Open(context.Background(), svc, 30*time.Second)
	if err != nil {
		t.Fatalf("Open(%s) = %v", ep, err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess.(*session)
}

// sampleLimits are the scan's limits for the default rules.
func sampleLimits(e *classify.Engine) datastore.Limits {
	kws, pats := e.Pushdown()
	lim := datastore.Limits{Rows: 3, Random: 5, Bytes: 16 << 20, Keywords: append(kws, classify.ChatKeywords()...), Patterns: pats, Exact: map[string]datastore.Match{}}
	for _, r := range e.Rules() {
		if len(r.Keywords) > 0 {
			lim.Exact["rule:"+r.ID] = datastore.Match{Keywords: r.Keywords, Pattern: r.Pattern}
		}
	}
	return lim
}

func labTable(t *testing.T, inv datastore.Inventory, db, name string) datastore.Table {
	t.Helper()
	for _, d := range inv.Databases {
		for _, tb := range d.Tables {
			if d.Name == db && tb.Name == name {
				return tb
			}
		}
	}
	t.Fatalf("inventory has no table %s.%s", db, name)
	return datastore.Table{}
}

// kinds classifies rows as the scan does and returns the kinds found, by column.
func kinds(e *classify.Engine, rows datastore.Rows) map[string][]string {
	out := map[string][]string{}
	for _, row := range rows.Values {
		for ci, v := range row {
			for _, d := range e.Scan(v) {
				if !slices.Contains(out[rows.Columns[ci]], d.Kind) {
					out[rows.Columns[ci]] = append(out[rows.Columns[ci]], d.Kind)
				}
			}
		}
	}
	return out
}

// A readonly=1 profile refuses every limit we set, so each query runs
// without server-side limits: sampling must still work, bounded on our side.
func TestSampleReadonlyProfile(t *testing.T) {
	requireLab(t)
	e := classify.Default()
	for _, native := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "native"}[native]
		t.Run(name, func(t *testing.T) {
			s := labSession(t, lab.Readonly, native)
			inv, err := s.Inventory(context.Background())
			if err != nil {
				t.Fatalf("Inventory(%s %s) = %v", lab.Readonly.Host, name, err)
			}
			events := labTable(t, inv, "default", "events")
			rows, err := s.Sample(context.Background(), events, sampleLimits(e))
			if err != nil {
				t.Fatalf("Sample(%s default.events) = %v", name, err)
			}
			if got := kinds(e, rows)["payload"]; !slices.Contains(got, "deepseek") || !slices.Contains(got, "email") {
				t.Errorf("Sample(%s default.events) found kinds %q in payload, want deepseek and email", name, got)
			}
			if s.limitsOK && !native { // 18.x keeps a readonly profile's level silently on native
				t.Errorf("session on the readonly=1 profile (%s) still sends limits", name)
			}
			if rows.ReadRows > 3*int64(len(rows.Counts))+5 {
				t.Errorf("Sample(%s default.events) read %d rows for %d keys, want at most 3 a key and 5 at random", name, rows.ReadRows, len(rows.Counts))
			}
		})
	}
}

// log_stream keeps its attributes as parallel arrays, string.names and
// string.values: each value is read back as "name = value".
func TestSamplePairsNamesWithValues(t *testing.T) {
	requireLab(t)
	e := classify.Default()
	s := labSession(t, lab.Open, false)
	inv, err := s.Inventory(context.Background())
	if err != nil {
		t.Fatalf("Inventory = %v", err)
	}
	ls := labTable(t, inv, "default", "log_stream")
	rows, err := s.Sample(context.Background(), ls, sampleLimits(e))
	if err != nil {
		t.Fatalf("Sample(log_stream) = %v", err)
	}
	i := slices.Index(rows.Columns, "string.values")
	if i < 0 || len(rows.Values) == 0 {
		t.Fatalf("Sample(log_stream) read columns %q, %d rows, want string.values among them", rows.Columns, len(rows.Values))
	}
	paired := 0
	for _, r := range rows.Values {
		if strings.Contains(r[i], "error.detail = ") || strings.Contains(r[i], "http.method = ") {
			paired++
		}
	}
	if paired == 0 {
		t.Errorf("no value of string.values was read back as name = value")
	}
	for _, k := range lab.SecretKinds {
		if !slices.Contains(kinds(e, rows)["string.values"], k) {
			t.Errorf("Sample(log_stream) string.values lacks kind %s", k)
		}
	}
}

// syntheticSecret is an AWS-secret-shaped value made up for the test.
func syntheticSecret() string {
	const set = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 40)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = set[x%uint32(len(set))]
	}
	return string(b)
}

// filler is an SQL expression of about n bytes of plain text.
func filler(n int) string {
	return fmt.Sprintf("arrayStringConcat(arrayMap(x -> 'filler text ', range(%d)))", n/12)
}

// Long values and key/value layouts, read from subqueries of literals: the
// lab is never written. Each source holds one planted value that the old
// reading (the first 8,192 bytes of each column, each column alone) missed.
func TestSampleLongValuesAndKeyValuePairs(t *testing.T) {
	requireLab(t)
	e := classify.Default()
	secret := quoteString(syntheticSecret())
	for _, tc := range []struct {
		name    string
		from    string
		columns []datastore.Column
		column  string // where the kind must be found
		kind    string
	}{
		{"keyword after byte 8192", fmt.Sprintf("(SELECT concat(%s, ' aws_secret_access_key = ', %s, ' ', %s) AS body)", filler(24000), secret, filler(4000)),
			[]datastore.Column{{Name: "body", Type: "String"}}, "body", "aws"},
		{"pattern after byte 8192", fmt.Sprintf("(SELECT concat(%s, ' call me at 13912345678 today ', %s) AS body)", filler(24000), filler(4000)),
			[]datastore.Column{{Name: "body", Type: "String"}}, "body", "phone"},
		{"second column after byte 8192", fmt.Sprintf("(SELECT %s AS a, concat(%s, ' aws_secret_access_key = ', %s) AS body)", filler(12000), filler(12000), secret),
			[]datastore.Column{{Name: "a", Type: "String"}, {Name: "body", Type: "String"}}, "body", "aws"},
		{"key and value columns", fmt.Sprintf("(SELECT 'aws_secret_access_key' AS k, %s AS v UNION ALL SELECT 'region' AS k, 'cn-north-1' AS v)", secret),
			[]datastore.Column{{Name: "k", Type: "String"}, {Name: "v", Type: "String"}}, "v", "aws"},
		{"setting_name and setting_value", fmt.Sprintf("(SELECT 'AWS_SECRET_ACCESS_KEY' AS setting_name, %s AS setting_value)", secret),
			[]datastore.Column{{Name: "setting_name", Type: "String"}, {Name: "setting_value", Type: "String"}}, "setting_value", "aws"},
		{"parallel names and values arrays", fmt.Sprintf("(SELECT ['region', 'aws_secret_access_key'] AS `attr.names`, ['cn-north-1', %s] AS `attr.values`)", secret),
			[]datastore.Column{{Name: "attr.names", Type: "Array(String)"}, {Name: "attr.values", Type: "Array(String)"}}, "attr.values", "aws"},
		{"arrays of unequal length", fmt.Sprintf("(SELECT ['aws_secret_access_key'] AS `attr.names`, [%s, 'extra'] AS `attr.values`)", secret),
			[]datastore.Column{{Name: "attr.names", Type: "Array(String)"}, {Name: "attr.values", Type: "Array(String)"}}, "attr.values", "aws"},
	} {
		for _, srv := range []lab.Server{lab.Open, lab.Readonly} {
			t.Run(tc.name+" on "+srv.Name, func(t *testing.T) {
				s := labSession(t, srv, true)
				tbl := datastore.Table{Database: "lab", Name: "subquery", Engine: "Memory", Rows: 2, RowsExact: true, Columns: tc.columns}
				rows, err := s.sample(context.Background(), tbl, tc.from, sampleLimits(e))
				if err != nil {
					t.Fatalf("sample(%s) = %v", tc.name, err)
				}
				if got := kinds(e, rows)[tc.column]; !slices.Contains(got, tc.kind) {
					t.Errorf("sample(%s) found kinds %q in column %s, want %s", tc.name, got, tc.column, tc.kind)
				}
				for _, r := range rows.Values {
					for ci, v := range r {
						if len(v) > valueByteCap+1 {
							t.Errorf("sample(%s) read back %d bytes of column %s, want at most %d", tc.name, len(v), rows.Columns[ci], valueByteCap+1)
						}
					}
				}
			})
		}
	}
}
