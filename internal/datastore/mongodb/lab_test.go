package mongodb

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/lab"
)

func labSession(t *testing.T, s lab.MongoServer, useTLS bool) *Session {
	t.Helper()
	if !lab.Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set")
	}
	ep := datastore.Endpoint{Host: s.Host, IP: net.ParseIP(s.Host), Port: s.Port}
	svc, err := Driver{}.Probe(context.Background(), ep, datastore.Look(context.Background(), ep, 10*time.Second), 10*time.Second)
	if err != nil || svc == nil {
		t.Fatalf("Probe(%s) = %v, %v", ep, svc, err)
	}
	if svc.TLS != useTLS || svc.Auth != datastore.AuthNone || !strings.HasPrefix(svc.DisplayName, "FerretDB") {
		t.Fatalf("Probe(%s) = tls %v auth %s name %q; want tls %v, auth none, FerretDB", ep, svc.TLS, svc.Auth, svc.DisplayName, useTLS)
	}
	sess, err := open(context.Background(), svc, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

// TestSearchLab: the $regex search (which the scan gives MongoDB, not
// FerretDB) finds documents holding a pattern on the lab's server, and
// the fields it searched were learned from documents (messages.content).
func TestSearchLab(t *testing.T) {
	s := labSession(t, lab.MongoOpen, false)
	conv := datastore.Table{Database: lab.SQLDatabase, Name: "conversations", Kind: "collection", Rows: lab.ConversationsRows}
	rows, err := s.Sample(context.Background(), conv, datastore.Limits{Rows: 2, Patterns: []string{`AKIA[0-9A-Z]{16}`}, Bytes: 1 << 20, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, r := range rows.Values {
		if strings.Contains(strings.Join(r, "\n"), "AKIA") {
			found++
		}
	}
	if found != 2 || len(rows.Values) != 2 {
		t.Errorf("Sample(conversations, AKIA…, 2 rows) = %d rows, %d holding AKIA (truncation %q); want 2 and 2", len(rows.Values), found, rows.Truncation)
	}
	if !strings.Contains(strings.Join(rows.Columns, " "), "messages.0.content") {
		t.Errorf("columns %q lack messages.0.content", rows.Columns)
	}
}

// TestTLSLab: the TLS-only server is found inside TLS and inventoried.
func TestTLSLab(t *testing.T) {
	s := labSession(t, lab.MongoTLS, true)
	inv, err := s.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var rows int64
	for _, db := range inv.Databases {
		for _, tb := range db.Tables {
			if db.Name == lab.SQLDatabase && tb.Name == "customers" {
				rows = tb.Rows
			}
		}
	}
	if rows != lab.CustomersRows {
		t.Errorf("TLS server: aiapp.customers holds %d documents, want %d", rows, lab.CustomersRows)
	}
}

// TestRansomNoteLab: the open server's note is read, and only it.
func TestRansomNoteLab(t *testing.T) {
	s := labSession(t, lab.MongoOpen, false)
	inv, err := s.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, n := range inv.RansomNotes {
		notes = append(notes, n.Database+"."+n.Name)
	}
	if len(notes) != 1 || notes[0] != lab.MongoRansomDatabase+"."+lab.MongoRansomCollection {
		t.Errorf("ransom notes found in %q, want only in %s.%s", notes, lab.MongoRansomDatabase, lab.MongoRansomCollection)
	}
}
