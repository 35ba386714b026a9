package scan

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
)

// docsDriver is a datastore the scanner has never heard of: a document
// store of collections without columns, whose server runs no filter at
// all, and whose user holds a capability of each impact. It proves the
// scanner's core judges by impacts and declarations, never by engine.
type docsDriver struct{}

const fakeDocs fakeMode = 100 // a port of the document store

func init() { datastore.Register(docsDriver{}) }

func (docsDriver) Name() string                   { return "c-docs" }
func (docsDriver) DefaultPorts() []datastore.Port { return nil }
func (docsDriver) Schemes() []datastore.Scheme {
	return []datastore.Scheme{{Name: "docs-test", Port: 27999}}
}

func (docsDriver) Probe(_ context.Context, ep datastore.Endpoint, look datastore.FirstLook, _ time.Duration) (*datastore.Service, error) {
	fake.Lock()
	defer fake.Unlock()
	if fake.modes[ep.Addr()] != fakeDocs || look.Silent {
		return nil, nil
	}
	return &datastore.Service{Endpoint: ep, Engine: "docs", Protocol: "wire", User: "guest", Auth: datastore.AuthNone}, nil
}

func (docsDriver) Open(_ context.Context, svc *datastore.Service, _ time.Duration) (datastore.Session, error) {
	return &docsSession{ep: svc.Endpoint}, nil
}

// docs records what the scanner asked of the document store's sessions.
var docs struct {
	sync.Mutex
	samples []datastore.Limits
}

type docsSession struct{ ep datastore.Endpoint }

// ServerID: every port is one server process; its start time, computed
// from an uptime, wobbles by a second from port to port.
func (s *docsSession) ServerID(context.Context) (datastore.ServerID, error) {
	return datastore.ServerID{Engine: "docs", Key: "cluster-7", Started: time.Unix(1_800_000_000+int64(s.ep.Port%2), 0)}, nil
}

func (s *docsSession) Privileges(context.Context) (datastore.Privileges, error) {
	return datastore.Privileges{Readonly: datastore.No, Capabilities: []datastore.Capability{
		{ID: "insert", Granted: datastore.Yes, Impact: datastore.ImpactWrite, Summary: "anyone can insert documents", Remediation: "Enable authorization"},
		{ID: "eval", Granted: datastore.Yes, Impact: datastore.ImpactRunCode, Summary: "server-side scripts run", Remediation: "Enable authorization"},
		{ID: "users", Granted: datastore.Unknown, Impact: datastore.ImpactAdminister, Summary: "anyone can manage users", Evidence: "the role list was cut"},
		{ID: "fetch", Granted: datastore.No, Impact: datastore.ImpactReachHosts, Summary: "the server fetches URLs", Remediation: "Disable fetch"},
		{ID: "dump", Granted: datastore.No, Impact: datastore.ImpactReadFiles, Summary: "the server's files can be read"},
	}}, nil
}

func (s *docsSession) Inventory(context.Context) (datastore.Inventory, error) {
	return datastore.Inventory{Databases: []datastore.Database{{Name: "shop", TableCount: 1, Tables: []datastore.Table{
		{Database: "shop", Path: []string{"eu"}, Name: "orders", Kind: "collection", Rows: 3, RowsExact: true, Bytes: -1},
	}}}}, nil
}

func (s *docsSession) Pushdown() datastore.Pushdown { return datastore.Pushdown{} }

func (s *docsSession) Sample(_ context.Context, _ datastore.Table, lim datastore.Limits) (datastore.Rows, error) {
	docs.Lock()
	docs.samples = append(docs.samples, lim)
	docs.Unlock()
	return datastore.Rows{Columns: []string{"doc"}, Values: [][]string{
		{`{"aws_access_key_id": "AKIAZ4RT7QWPL2MXK5VB"}`},
		{`{"note": "nothing here"}`},
		{`{"key": "ASIAQ3MNB7VCX2ZLK4JH"}`},
	}, ReadRows: 3, ReadBytes: 120}, nil
}

func (s *docsSession) Remediation(datastore.Privileges) []string {
	return []string{"Bind the store to a private address", "Enable authorization"}
}
func (s *docsSession) Close() error { return nil }

func TestCoreJudgesByImpactsAndDeclarations(t *testing.T) {
	resetFake()
	docs.Lock()
	docs.samples = nil
	docs.Unlock()
	var eps []string
	for range 2 {
		ep := fmt.Sprintf("127.0.29.1:%d", listenAt(t, "127.0.29.1"))
		setFake(t, ep, fakeDocs)
		eps = append(eps, ep)
	}
	key, err := classify.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	sum, findings, warns, _ := fakeScan(t, Config{AssessConcurrency: 1, Engine: classify.Default().WithKey(key),
		Sample: datastore.Limits{Rows: 5, Random: 10, Bytes: 1 << 20}}, eps...)
	if len(findings) != 2 || sum.Errors != 0 {
		t.Fatalf("%d findings, %d errors (%q); want 2 findings of the document store, no error", len(findings), sum.Errors, warns)
	}

	t.Run("server identity", func(t *testing.T) {
		docs.Lock()
		defer docs.Unlock()
		if len(docs.samples) != 1 {
			t.Errorf("the collection was sampled %d times, want once: two ports of one server (start times a second apart) are one server", len(docs.samples))
		}
		first := fmt.Sprintf("%s:%d", findings[0].IP, findings[0].Port)
		if findings[0].SameServerAs != "" || findings[1].SameServerAs != first {
			t.Errorf("same_server_as = %q, %q; want none, then %s", findings[0].SameServerAs, findings[1].SameServerAs, first)
		}
	})

	t.Run("pushdown", func(t *testing.T) {
		docs.Lock()
		defer docs.Unlock()
		for _, lim := range docs.samples {
			if len(lim.Keywords)+len(lim.Patterns)+len(lim.Exact) > 0 {
				t.Errorf("Sample got %d keywords, %d patterns, %d exact counts; want none: the session declares no pushdown", len(lim.Keywords), len(lim.Patterns), len(lim.Exact))
			}
			if lim.Random != 10 || lim.Rows != 5 {
				t.Errorf("Sample got Random %d, Rows %d; want the configured 10 and 5", lim.Random, lim.Rows)
			}
		}
	})

	f := findings[0]
	t.Run("severity and reasons from impacts", func(t *testing.T) {
		if f.Severity != assess.Critical {
			t.Errorf("severity %s, want critical (secrets read back)", f.Severity)
		}
		reasons := strings.Join(f.Reasons, "\n")
		for _, want := range []string{"no password for user guest", "anyone can insert documents", "server-side scripts run",
			"could not tell whether anyone can manage users: the role list was cut", "secrets (aws) in shop.eu.orders"} {
			if !strings.Contains(reasons, want) {
				t.Errorf("reasons %q do not say %q", f.Reasons, want)
			}
		}
		for _, refused := range []string{"fetches URLs", "files can be read"} {
			if strings.Contains(reasons, refused) {
				t.Errorf("reasons %q name a refused capability (%q)", f.Reasons, refused)
			}
		}
		if want := []string{"Bind the store to a private address", "Enable authorization"}; !slices.Equal(f.Remediation, want) {
			t.Errorf("remediation %q, want %q: each granted capability's fix once, after the driver's", f.Remediation, want)
		}
	})

	t.Run("schemaless inventory sized from the sample", func(t *testing.T) {
		tb := f.Inventory.Databases[0].Tables[0]
		if tb.Kind != "collection" || tb.LeaksCounted != "sample" || tb.Leaks["aws"] != 2 {
			t.Errorf("orders: kind %q, leaks %v counted by %q; want a collection, aws 2, counted in the sample", tb.Kind, tb.Leaks, tb.LeaksCounted)
		}
		if len(f.Detections) != 2 {
			t.Fatalf("%d detections, want the 2 keys", len(f.Detections))
		}
		if l := f.Detections[0].Location; !slices.Equal(l.Path, []string{"eu"}) || l.Database != "shop" || l.Table != "orders" || l.Column != "doc" {
			t.Errorf("detection at %+v, want shop, path [eu], orders, doc", l)
		}
	})
}

// Patterns go to a session only in the dialect it declares, and only when
// they translate; keywords only where it runs substring filters.
func TestPushdownLimits(t *testing.T) {
	e := classify.Default()
	base := datastore.Limits{Rows: 3, Random: 7}
	for _, tc := range []struct {
		name                      string
		pd                        datastore.Pushdown
		keywords, patterns, exact bool
	}{
		{"none", datastore.Pushdown{}, false, false, false},
		{"substring only", datastore.Pushdown{Substring: true}, true, false, false},
		{"re2", datastore.Pushdown{Substring: true, Regex: datastore.DialectRE2, Counts: true}, true, true, true},
		{"a dialect nothing translates into", datastore.Pushdown{Substring: true, Regex: "no-such-dialect"}, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim, _ := e.Limits(base, tc.pd)
			if (len(lim.Keywords) > 0) != tc.keywords || (len(lim.Patterns) > 0) != tc.patterns || (len(lim.Exact) > 0) != tc.exact {
				t.Errorf("Engine.Limits(%+v) = %d keywords, %d patterns, %d exact; want keywords %v, patterns %v, exact %v",
					tc.pd, len(lim.Keywords), len(lim.Patterns), len(lim.Exact), tc.keywords, tc.patterns, tc.exact)
			}
			if lim.Rows != 3 || lim.Random != 7 {
				t.Errorf("Engine.Limits(%+v) lost the configured rows (%d, %d)", tc.pd, lim.Rows, lim.Random)
			}
		})
	}
}

// Counts of translated patterns come back under the rules' own patterns.
func TestRenameCounts(t *testing.T) {
	got := renameCounts(map[string]int64{`x\yz`: 4, "kw": 2}, map[string]string{`x\yz`: `x\bz`})
	if got[`x\bz`] != 4 || got["kw"] != 2 || len(got) != 2 {
		t.Errorf("renameCounts = %v, want x\\bz 4 and kw 2", got)
	}
}
