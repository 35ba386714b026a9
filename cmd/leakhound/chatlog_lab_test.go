package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/lab"
)

// The table of the 2025 leak, as it was stored: plain-text prompts in
// string.names/string.values under a chat-completion span. A scan classes
// it chat_log, sizes it from the server's count and names the key; its
// client addresses are context, not a leak.
func TestScanPlainChatLog(t *testing.T) {
	requireLab(t)
	db, name := lab.PlainLogStream.Database, lab.PlainLogStream.Table
	// Budgets for a loaded machine: the table is sampled after the others.
	_, out, stderr := scanCLI(t, lab.Open.Host+":8123", "-f", "jsonl", "--timeout", "2m", "--server-budget", "10m")
	fs := decodeFindings(t, out)
	if len(fs) != 1 {
		t.Fatalf("scan %s:8123 found %d services, want 1:\n%s", lab.Open.Host, len(fs), stderr)
	}
	f := fs[0]
	if !slices.ContainsFunc(f.Inventory.Databases, func(d datastore.Database) bool { return d.Name == db }) {
		t.Skipf("the lab was seeded without %s.%s: seed it again (scripts/lab up clickhouse)", db, name)
	}
	tb := findTable(t, f, db, name)
	if !slices.Equal(tb.Classes, []string{"chat_log"}) {
		t.Errorf("%s.%s classes %q, want [chat_log] (addresses alone are not personal data)", db, name, tb.Classes)
	}
	if !slices.Equal(tb.Conversations, []string{"string.values[message]"}) {
		t.Errorf("%s.%s conversations %q, want [string.values[message]]", db, name, tb.Conversations)
	}
	if tb.Leaks["chat_log"] != lab.PlainLogChatSpan || tb.LeaksCounted != "server" {
		t.Errorf("%s.%s leaks %v counted by %q, want chat_log %d (rows with a message in a chat span) counted by the server", db, name, tb.Leaks, tb.LeaksCounted, lab.PlainLogChatSpan)
	}
	if _, ok := tb.Leaks["ip_address"]; ok || tb.Context["ip_address"] < lab.PlainLogAddresses || tb.Context["ip_address"] > lab.PlainLogAddresses*11/10 {
		t.Errorf("%s.%s leaks %v, context %v; want no ip_address leak, context ip_address about %d", db, name, tb.Leaks, tb.Context, lab.PlainLogAddresses)
	}
	for _, d := range f.Detections {
		if d.Kind == "ip_address" {
			t.Errorf("detection %+v: addresses are counted, not listed, without --ip-findings", d)
			break
		}
	}
	if !slices.ContainsFunc(f.Reasons, func(r string) bool {
		return strings.HasPrefix(r, "chat/prompt logs in ") && strings.Contains(r, db+"."+name+" (string.values[message])")
	}) {
		t.Errorf("reasons %q do not name %s.%s (string.values[message]) as chat logs", f.Reasons, db, name)
	}
}
