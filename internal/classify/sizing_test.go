package classify

import (
	"slices"
	"testing"

	"github.com/leakhound/leakhound/internal/classify/corpus"
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

// A table shaped like the 2025 leak's log_stream: its conversations are
// sized from the server's count of rows where the judged key holds a value
// in a chat span, and named by column and key; the client addresses on
// every row are context, counted, not listed, unless the engine lists them.
func TestSizeLogStream(t *testing.T) {
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	pairs := func(kv ...string) string {
		var names, values []string
		for i := 0; i < len(kv); i += 2 {
			names, values = append(names, kv[i]), append(values, kv[i+1])
		}
		return corpus.Pairs(names, values)
	}
	rows := datastore.Rows{Columns: []string{"span_name", "string.values", "_service"}, Values: [][]string{
		{"/api/v0/chat/completion", pairs("message", "帮我写一份周报", "level", "info", "client_ip", "116.228.111.18"), "chat-backend"},
		{"/api/v0/chat/completion", pairs("message", "Why does my Go program deadlock when the channel is unbuffered?", "level", "info", "client_ip", "116.228.111.19"), "chat-backend"},
		{"/api/v0/health", pairs("message", "upstream timeout after 30s", "level", "error", "client_ip", "203.0.113.45"), "gateway"},
	}, Counts: map[string]int64{"message = ": 412000, chatExactKey("message = "): 350000, `(^|[^0-9A-Za-z.])[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}([^0-9A-Za-z.]|[.]([^0-9A-Za-z]|$)|$)`: 1000000}}
	for _, tc := range []struct {
		name     string
		e        *Engine
		listedIP bool
	}{
		{"addresses counted", Default().WithKey(key).CountOnly(ContextKinds, nil), false},
		{"addresses listed", Default().WithKey(key), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tb datastore.Table
			found := tc.e.Size(&tb, rows, Server, 0)
			if !slices.Contains(tb.Classes, "chat_log") || tb.Leaks["chat_log"] != 350000 {
				t.Errorf("Size(log_stream) classes %q, leaks %v; want chat_log sized 350000 (the rows with a message in a chat span)", tb.Classes, tb.Leaks)
			}
			if len(tb.Conversations) != 1 || tb.Conversations[0] != "string.values[message]" {
				t.Errorf("Size(log_stream) conversations %q, want [string.values[message]]", tb.Conversations)
			}
			if slices.Contains(tb.Classes, "pii") {
				t.Errorf("Size(log_stream) classes %q: addresses alone are not personal data", tb.Classes)
			}
			ips := 0
			for _, f := range found {
				if f.Kind == "ip_address" {
					ips++
				}
			}
			if tc.listedIP {
				if ips != 3 || tb.Leaks["ip_address"] != 1000000 || tb.Context != nil {
					t.Errorf("Size(log_stream, listing addresses) %d listed, leaks %v, context %v; want 3 listed, leaks ip_address 1000000", ips, tb.Leaks, tb.Context)
				}
				return
			}
			if ips != 0 || tb.Context["ip_address"] != 1000000 || tb.Leaks["ip_address"] != 0 {
				t.Errorf("Size(log_stream) %d addresses listed, context %v, leaks %v; want none listed, context ip_address 1000000, no ip_address leak", ips, tb.Context, tb.Leaks)
			}
		})
	}
}
