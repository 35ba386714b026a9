package datastore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/target"
)

func TestPrivilegesJSON(t *testing.T) {
	p := Privileges{
		Readonly: Unknown,
		Capabilities: []Capability{
			{ID: "ddl", Granted: Unknown, Impact: ImpactWrite, Summary: "anyone can drop tables", Evidence: "the settings answer was empty"},
			{ID: "insert", Granted: No, Impact: ImpactWrite, Summary: "anyone can insert"},
			{ID: "file", Granted: Yes, Impact: ImpactReadFiles, Summary: "files can be read", Remediation: "revoke it"},
		},
		Evidence: []string{"profile readonly=0"},
		Details:  map[string]any{"table_functions": No, "readonly_level": -1, "ddl": "a detail may not take a contract key"},
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"readonly":null,"ddl":null,"file_read":true,"readonly_level":-1,"table_functions":false,"capabilities":[` +
		`{"id":"ddl","granted":null,"impact":"write","summary":"anyone can drop tables","evidence":"the settings answer was empty"},` +
		`{"id":"insert","granted":false,"impact":"write","summary":"anyone can insert"},` +
		`{"id":"file","granted":true,"impact":"read_files","summary":"files can be read","remediation":"revoke it"}],` +
		`"evidence":["profile readonly=0"]}`
	if string(b) != want {
		t.Errorf("json.Marshal(%+v) =\n%s\nwant\n%s", p, b, want)
	}
	var back Privileges
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("json.Unmarshal(%s) = %v", b, err)
	}
	if back.Readonly != Unknown || back.Verdict(ImpactWrite) != Unknown || back.Verdict(ImpactReadFiles) != Yes ||
		len(back.Capabilities) != 3 || back.Details["readonly_level"] != float64(-1) || back.Details["table_functions"] != false {
		t.Errorf("json.Unmarshal(%s) = %+v, want it back", b, back)
	}
	if again, _ := json.Marshal(back); string(again) != want {
		t.Errorf("a round trip changed the JSON:\n%s\nwant\n%s", again, want)
	}
	if err := json.Unmarshal([]byte(`{"readonly":"yes"}`), &back); err == nil {
		t.Errorf(`json.Unmarshal({"readonly":"yes"}) = nil error, want one`)
	}
	if b, _ := json.Marshal(Privileges{Readonly: Yes}); string(b) != `{"readonly":true,"ddl":false,"file_read":false,"capabilities":[]}` {
		t.Errorf("json.Marshal(read-only, no capability) = %s", b)
	}
}

func TestPrivilegesVerdict(t *testing.T) {
	c := func(v Verdict) Capability { return Capability{Granted: v, Impact: ImpactRunCode} }
	for _, tc := range []struct {
		caps []Capability
		want Verdict
	}{
		{nil, No},
		{[]Capability{c(No)}, No},
		{[]Capability{c(No), c(Unknown)}, Unknown},
		{[]Capability{c(Unknown), c(Yes), c(No)}, Yes},
		{[]Capability{{Granted: Yes, Impact: ImpactWrite}}, No},
	} {
		if got := (Privileges{Capabilities: tc.caps}).Verdict(ImpactRunCode); got != tc.want {
			t.Errorf("Verdict(run_code) over %+v = %s, want %s", tc.caps, got, tc.want)
		}
	}
}

func TestAddCount(t *testing.T) {
	for _, tc := range []struct{ a, b, want int64 }{
		{1, 2, 3},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{math.MaxInt64, 1, math.MaxInt64},
		{math.MinInt64, -1, math.MinInt64},
		{-1, 5, 4},
	} {
		if got := AddCount(tc.a, tc.b); got != tc.want {
			t.Errorf("AddCount(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestParseCount(t *testing.T) {
	for in, want := range map[string]int64{
		"42": 42, " 7\n": 7, "": -1, "x": -1, "-3": -3,
		"18446744073709551615": math.MaxInt64, "-99999999999999999999": -1,
	} {
		if got := ParseCount(in); got != want {
			t.Errorf("ParseCount(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestBatches(t *testing.T) {
	got := Batches([]string{"aaaa", "bb", "cc", "dddddd", "e"}, func(s string) int { return len(s) }, 6)
	want := [][]string{{"aaaa", "bb"}, {"cc"}, {"dddddd"}, {"e"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Batches = %v, want %v", got, want)
	}
}

// schemeDriver owns a URL scheme and nothing else.
type schemeDriver struct{ name, scheme string }

func (d schemeDriver) Name() string                                                 { return d.name }
func (schemeDriver) DefaultPorts() []Port                                           { return nil }
func (d schemeDriver) Schemes() []Scheme                                            { return []Scheme{{Name: d.scheme, Port: 4321}} }
func (schemeDriver) Open(context.Context, *Service, time.Duration) (Session, error) { return nil, nil }
func (schemeDriver) Probe(context.Context, Endpoint, FirstLook, time.Duration) (*Service, error) {
	return nil, nil
}

// A driver's schemes mean its port in a target URL; a scheme claimed by a
// second driver is a programming error, as a second driver of one name is.
func TestRegisterOwnsSchemes(t *testing.T) {
	Register(schemeDriver{"scheme-test-a", "scheme-test"})
	tg, err := target.Parse("scheme-test://db.example/")
	if err != nil || tg.Port != 4321 {
		t.Errorf("target.Parse(scheme-test://db.example/) = port %d, %v; want 4321, the registering driver's", tg.Port, err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "scheme-test") {
			t.Errorf("a second driver claiming scheme-test: recovered %v, want a panic naming the scheme", r)
		}
		if _, ok := Lookup("scheme-test-b"); ok {
			t.Errorf("the driver whose scheme was refused is registered anyway")
		}
	}()
	Register(schemeDriver{"scheme-test-b", "scheme-test"})
}

func TestServerIDSame(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	id := ServerID{Engine: "e", Key: "k", Started: at}
	for _, tc := range []struct {
		b    ServerID
		want bool
	}{
		{ServerID{Engine: "e", Key: "k", Started: at.Add(time.Second)}, true},
		{ServerID{Engine: "e", Key: "k", Started: at.Add(-2 * time.Second)}, true},
		{ServerID{Engine: "e", Key: "k", Started: at.Add(51 * time.Second)}, false}, // restarted
		{ServerID{Engine: "e", Key: "other", Started: at}, false},
		{ServerID{Engine: "f", Key: "k", Started: at}, false},
		{ServerID{Engine: "e", Key: "k"}, false}, // one start time unknown
	} {
		if got := id.Same(tc.b); got != tc.want {
			t.Errorf("%v.Same(%v) = %v, want %v", id, tc.b, got, tc.want)
		}
	}
}

func TestQualifiedName(t *testing.T) {
	for _, tc := range []struct {
		t    Table
		want string
	}{
		{Table{Database: "aiapp", Path: []string{"public"}, Name: "chat_logs"}, "aiapp.public.chat_logs"},
		{Table{Database: "default", Name: "log_stream"}, "default.log_stream"},
		{Table{Name: "t"}, "t"},
	} {
		if got := tc.t.QualifiedName(); got != tc.want {
			t.Errorf("%+v.QualifiedName() = %q, want %q", tc.t, got, tc.want)
		}
	}
}

func TestRansomName(t *testing.T) {
	for name, want := range map[string]bool{"read_me": true, "README": true, "meow": true, "DB_RECOVER_ME": true, "how_to_recover": true,
		"readme_btc": true, "customers": false, "readers": false, "recovery_codes_2024": false} {
		if got := RansomName(name); got != want {
			t.Errorf("RansomName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestRedactNote(t *testing.T) {
	note := "All your data is backed up. Pay 0.0125 BTC to bc1qx7k3m9w2f5s8d4g6h0j2l4n6p8r0t2v4x6z8q, mail recover.db@onionmail.org"
	got := RedactNote(note)
	if strings.Contains(got, "bc1qx7k3m9w2f5s8d4g6h0j2l4n6p8r0t2v4x6z8q") || strings.Contains(got, "recover.db@onionmail.org") || !strings.Contains(got, "0.0125 BTC") {
		t.Errorf("RedactNote = %q; want the demand kept, the address and e-mail cut", got)
	}
	if long := RedactNote(strings.Repeat("word ", 1000)); len([]rune(long)) > maxNoteText+1 {
		t.Errorf("RedactNote of 5000 bytes = %d bytes, want at most %d", len(long), maxNoteText+1)
	}
}
