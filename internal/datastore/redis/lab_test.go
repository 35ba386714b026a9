package redis

import (
	"context"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
	"github.com/leakhound/leakhound/internal/lab"
)

// TestLabSnapshotSeesAWrite: the snapshot the conformance suite compares
// changes when one key is written, so "unchanged" means something. It
// writes to the TLS server, which no snapshot comparison uses.
func TestLabSnapshotSeesAWrite(t *testing.T) {
	if !lab.Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set")
	}
	ctx := context.Background()
	s := lab.RedisTLS
	before, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Admin(ctx, 3, "SET", "leakhound_lab:probe", "x"); err != nil {
		t.Fatal(err)
	}
	defer s.Admin(ctx, 3, "DEL", "leakhound_lab:probe")
	after, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Errorf("Snapshot(%s) is the same after a SET", s.Name)
	}
}

// TestLabOpen: the open server is found with its sizes, its ransom note,
// what its user may do and the personal data of user:*, read through the
// driver as the scanner reads it.
func TestLabOpen(t *testing.T) {
	if !lab.Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set")
	}
	ctx := context.Background()
	ep := datastoretest.Endpoint(lab.RedisOpen.Host, lab.RedisOpen.Port)
	svc, err := Driver{}.Probe(ctx, ep, datastore.Look(ctx, ep, datastoretest.DefaultTimeout), datastoretest.DefaultTimeout)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone || !strings.HasPrefix(svc.Version, "7.") {
		t.Fatalf("Probe(%s) = %+v, %v; want open Redis 7", ep, svc, err)
	}
	sess, err := Driver{}.Open(ctx, svc, datastoretest.DefaultTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	priv, err := sess.Privileges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]datastore.Verdict{"write": datastore.Yes, "CONFIG SET": datastore.Yes, "CONFIG SET dir": datastore.No, "MODULE LOAD": datastore.No, "REPLICAOF": datastore.Yes}
	for _, c := range priv.Capabilities {
		if w, ok := want[c.ID]; ok && c.Granted != w {
			t.Errorf("capability %s = %s (%s), want %s", c.ID, c.Granted, c.Evidence, w)
		}
		delete(want, c.ID)
	}
	if len(want) > 0 {
		t.Errorf("capabilities missing: %v", want)
	}
	inv, err := sess.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.RansomNotes) != 1 || inv.RansomNotes[0].Name != lab.RedisNoteKey || strings.Contains(inv.RansomNotes[0].Text, "@onionmail.org") {
		t.Errorf("RansomNotes = %+v, want %s, its email masked", inv.RansomNotes, lab.RedisNoteKey)
	}
	var users *datastore.Table
	var total int64
	for _, db := range inv.Databases {
		for i, tb := range db.Tables {
			if db.Name == "db0" {
				total += tb.Rows
			}
			if db.Name == "db0" && tb.Name == "user:*" {
				users = &db.Tables[i]
			}
		}
	}
	// The SCAN reads about 0.5% of the keys: each pattern's estimate is
	// its share of them, so the sum is the database's size, give or take
	// rounding.
	if total < lab.RedisKeys-100 || total > lab.RedisKeys+100 {
		t.Errorf("db0's patterns add up to %d keys, want about %d", total, lab.RedisKeys)
	}
	if users == nil || users.RowsExact || users.Rows < lab.RedisUsers*8/10 || users.Rows > lab.RedisUsers*12/10 {
		t.Fatalf("db0 user:* = %+v, want about %d keys, estimated", users, lab.RedisUsers)
	}
	rows, err := sess.Sample(ctx, *users, datastore.Limits{Random: 10, Bytes: 1 << 20})
	if err != nil || len(rows.Values) != 10 {
		t.Fatalf("Sample(user:*) = %d rows, %v; want 10", len(rows.Values), err)
	}
	for _, c := range []string{"key", "name", "email", "phone", "national_id", "card"} {
		if !strings.Contains(strings.Join(rows.Columns, ","), c) {
			t.Errorf("Sample(user:*) columns %q, want %s among them", rows.Columns, c)
		}
	}
}
