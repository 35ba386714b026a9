package scan

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
)

// slowSession has tables tables of rows each, samples each in delay, and
// refuses to sample more than cap (0: no cap).
type slowSession struct {
	tables, cap int
	delay       time.Duration
	sampled     int
}

func (s *slowSession) ServerID(context.Context) (datastore.ServerID, error) {
	return datastore.ServerID{Engine: "slow", Key: "x"}, nil
}
func (s *slowSession) Pushdown() datastore.Pushdown { return datastore.Pushdown{Substring: true} }
func (s *slowSession) Privileges(context.Context) (datastore.Privileges, error) {
	return datastore.Privileges{}, nil
}
func (s *slowSession) Remediation(datastore.Privileges) []string { return nil }
func (s *slowSession) Close() error                              { return nil }

func (s *slowSession) Inventory(context.Context) (datastore.Inventory, error) {
	db := datastore.Database{Name: "d"}
	for i := range s.tables {
		db.Tables = append(db.Tables, datastore.Table{Database: "d", Name: fmt.Sprint("t", i), Engine: "Log", Rows: 1, RowsExact: true})
	}
	return datastore.Inventory{Databases: []datastore.Database{db}}, nil
}

func (s *slowSession) Sample(ctx context.Context, t datastore.Table, _ datastore.Limits) (datastore.Rows, error) {
	if s.cap > 0 && s.sampled >= s.cap {
		return datastore.Rows{}, fmt.Errorf("%s not sampled: %w", t.Name, datastore.ErrSessionCap)
	}
	s.sampled++
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return datastore.Rows{}, ctx.Err()
	}
	return datastore.Rows{ReadRows: 1, ReadBytes: 10, Truncation: []string{"answer cut"}}, nil
}

func TestMeasureStopsAndSaysWhy(t *testing.T) {
	svc := &datastore.Service{Endpoint: datastore.Endpoint{Port: 8123}}
	for _, tc := range []struct {
		name    string
		sess    *slowSession
		budget  time.Duration
		inv     string // a truncation reason
		errs    string // in the finding's errors, "" for none
		sampled int    // at most
	}{
		{"server budget runs out", &slowSession{tables: 40, delay: 20 * time.Millisecond}, 200 * time.Millisecond,
			"server budget ran out after sampling", "the server budget of 200ms ran out after sampling", 39},
		{"session cap", &slowSession{tables: 40, cap: 3}, time.Minute, "sampled 3 of 40 tables", "", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scanner{cfg: Config{Engine: classify.Default(), ServiceBudget: tc.budget, Warn: func(error) {}}}
			ctx, cancel := context.WithTimeout(context.Background(), tc.budget)
			defer cancel()
			r := &serverResult{}
			s.measure(ctx, tc.sess, svc, r)
			if r.inventory == nil {
				t.Fatalf("measure kept no inventory")
			}
			if !r.inventory.Truncated || !slices.ContainsFunc(r.inventory.Truncation, func(s string) bool { return strings.Contains(s, tc.inv) }) {
				t.Errorf("inventory truncation %q, want one saying %q", r.inventory.Truncation, tc.inv)
			}
			if tc.errs != "" && !slices.ContainsFunc(r.errs, func(s string) bool { return strings.Contains(s, tc.errs) }) {
				t.Errorf("errors %q, want one saying %q", r.errs, tc.errs)
			}
			if tc.sess.sampled > tc.sampled {
				t.Errorf("measure sampled %d tables, want at most %d", tc.sess.sampled, tc.sampled)
			}
			tb := r.inventory.Databases[0].Tables[0]
			if !slices.Contains(tb.Truncation, "answer cut") {
				t.Errorf("table t0 truncation %q, want the sample's own reason", tb.Truncation)
			}
		})
	}
}
