package memcached

import (
	"context"
	"slices"
	"testing"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
	"github.com/leakhound/leakhound/internal/lab"
)

// TestLabOpen: the open memcached's keys are counted per pattern from the
// dump, its cached prompts are chat logs, and the wiper's note is one.
func TestLabOpen(t *testing.T) {
	if !lab.Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set")
	}
	ctx := context.Background()
	ep := datastoretest.Endpoint(lab.MemcachedOpen.Host, lab.MemcachedOpen.Port)
	svc, err := Driver{}.Probe(ctx, ep, datastore.Look(ctx, ep, 5*hostileTimeout), 5*hostileTimeout)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone || svc.Version != "1.6.18" {
		t.Fatalf("Probe(%s) = %+v, %v; want memcached 1.6.18, auth none", ep, svc, err)
	}
	sess, err := Driver{}.Open(ctx, svc, 5*hostileTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	priv, err := sess.Privileges(ctx)
	if err != nil || priv.Verdict(datastore.ImpactWrite) != datastore.Yes || priv.Readonly != datastore.No {
		t.Errorf("Privileges = %+v, %v; want write granted by construction", priv, err)
	}
	inv, err := sess.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]datastore.Table{}
	for _, tb := range inv.Databases[0].Tables {
		byName[tb.Name] = tb
	}
	for name, want := range map[string]int64{"session:*": lab.MemcachedSessionKeys, "cache:prompt:*": lab.MemcachedPromptKeys, "user:*": lab.MemcachedUserKeys} {
		if tb := byName[name]; tb.Rows != want || !tb.RowsExact || tb.Bytes <= 0 {
			t.Errorf("%s: %d keys (exact %v), %d bytes; want %d exact, bytes known", name, tb.Rows, tb.RowsExact, tb.Bytes, want)
		}
	}
	prompts := byName["cache:prompt:*"]
	rows, err := sess.Sample(ctx, prompts, datastore.Limits{Rows: 20, Random: 100, Bytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	classify.Default().Size(&prompts, rows, classify.Sample, 0)
	if !slices.Contains(prompts.Classes, "chat_log") {
		t.Errorf("cache:prompt:* classes %q; want chat_log", prompts.Classes)
	}
	other := byName[OtherKeys]
	rows, err = sess.Sample(ctx, other, datastore.Limits{Random: 100, Bytes: 1 << 20})
	found := false
	for i, c := range rows.Columns {
		if _, ok := datastore.FindRansomNote(rows.Values[i][i], other.Name, c); ok && c == lab.MemcachedRansomKey {
			found = true
		}
	}
	if err != nil || !found {
		t.Errorf("Sample(%s) = columns %q, %v; want the ransom note under %s", OtherKeys, rows.Columns, err, lab.MemcachedRansomKey)
	}
}

// TestLabSASL: a SASL-only server is "required", read from the binary
// protocol.
func TestLabSASL(t *testing.T) {
	if !lab.Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set")
	}
	ctx := context.Background()
	ep := datastoretest.Endpoint(lab.MemcachedSASL.Host, lab.MemcachedSASL.Port)
	svc, err := Driver{}.Probe(ctx, ep, datastore.Look(ctx, ep, 5*hostileTimeout), 5*hostileTimeout)
	if err != nil || svc == nil || svc.Auth != datastore.AuthRequired || svc.AuthCode != statusAuth {
		t.Fatalf("Probe(%s) = %+v, %v; want required (0x20)", ep, svc, err)
	}
}
