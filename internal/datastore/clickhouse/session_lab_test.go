package clickhouse

import (
	"context"
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
	svc, err := Driver{}.Probe(context.Background(), ep, 10*time.Second)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone {
		t.Fatalf("Probe(%s) = %+v, %v, want an open service", ep, svc, err)
	}
	sess, err := Driver{}.Open(context.Background(), svc, 20*time.Second)
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
