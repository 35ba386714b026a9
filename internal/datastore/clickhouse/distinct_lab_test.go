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

// In log_stream a few real values hide behind many documentation values
// sharing their keyword (lab.CrowdEvery): AKIAIOSFODNN7EXAMPLE in over 600
// rows beside 5 real key ids, glpat-xxxx… in 150 beside 3 real tokens,
// redis://:changeme@… in 80 beside 3 real URLs. Twenty rows a keyword were
// all placeholders; rows fetched by distinct value, placeholders left out,
// confirm every kind, rule and scheme planted, reading a few hundred rows
// of the million. No rows at random: none of it is luck.
func TestSampleConfirmsEveryPlantedKind(t *testing.T) {
	requireLab(t)
	key, err := classify.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	e := classify.Default().WithKey(key)
	for _, native := range []bool{false, true} {
		name := map[bool]string{false: "http", true: "native"}[native]
		t.Run(name, func(t *testing.T) {
			s := slowLabSession(t, native)
			if !s.Pushdown().Distinct {
				t.Fatalf("Pushdown() = %+v, want Distinct", s.Pushdown())
			}
			inv, err := s.Inventory(context.Background())
			if err != nil {
				t.Fatalf("Inventory = %v", err)
			}
			ls := labTable(t, inv, "default", "log_stream")
			lim, _ := e.Limits(datastore.Limits{Rows: 20, Bytes: 16 << 20}, s.Pushdown())
			rows, err := s.Sample(context.Background(), ls, lim)
			if err != nil {
				t.Fatalf("Sample(log_stream) = %v", err)
			}
			kinds, rules, schemes := map[string]bool{}, map[string]bool{}, map[string]bool{}
			tb := ls
			for _, f := range e.Size(&tb, rows, classify.Server, 0) {
				kinds[f.Kind], rules[f.Rule] = true, true
			}
			for _, row := range rows.Values {
				for _, v := range row {
					for _, d := range e.Scan(v) {
						if d.Kind == "connection_string" {
							s, _, _ := strings.Cut(v[d.Start:d.End], "://")
							schemes[strings.TrimSuffix(s, "ql")] = true
						}
					}
				}
			}
			for _, k := range slices.Concat(lab.SecretKinds, lab.PIIKinds, lab.CrowdedKinds) {
				if !kinds[k] {
					t.Errorf("Sample(log_stream) confirmed no %s", k)
				}
			}
			for _, r := range lab.CrowdedRules {
				if !rules[r] {
					t.Errorf("Sample(log_stream) confirmed no value of rule %s", r)
				}
			}
			for _, sc := range lab.ConnectionSchemes {
				if !schemes[sc] {
					t.Errorf("Sample(log_stream) confirmed no %s:// connection string", sc)
				}
			}
			if rows.ReadRows > lab.LogStreamRows/1000 {
				t.Errorf("Sample(log_stream) read back %d rows, want at most %d (0.1%%)", rows.ReadRows, lab.LogStreamRows/1000)
			}
			t.Logf("%s: %d rows, %d bytes read back; truncation %q", name, rows.ReadRows, rows.ReadBytes, rows.Truncation)
		})
	}
}

// slowLabSession is labSession with a timeout for a busy machine: the
// test counts what is confirmed, never how fast.
func slowLabSession(t *testing.T, native bool) *session {
	t.Helper()
	port := lab.Open.HTTPPort
	if native {
		port = lab.Open.NativePort
	}
	ep := datastore.Endpoint{Host: lab.Open.Host, IP: net.ParseIP(lab.Open.Host), Port: port}
	svc, err := Driver{}.Probe(context.Background(), ep, datastore.FirstLook{}, 10*time.Second)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone {
		t.Fatalf("Probe(%s) = %+v, %v, want an open service", ep, svc, err)
	}
	sess, err := Driver{}.Open(context.Background(), svc, 5*time.Minute)
	if err != nil {
		t.Fatalf("Open(%s) = %v", ep, err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess.(*session)
}
