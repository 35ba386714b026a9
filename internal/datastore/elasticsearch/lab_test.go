package elasticsearch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
	"github.com/leakhound/leakhound/internal/lab"
)

func labSession(t *testing.T, s lab.ESServer) (*datastore.Service, *Session) {
	t.Helper()
	if !lab.Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set")
	}
	ctx := context.Background()
	ep := datastoretest.Endpoint(s.Host, s.Port)
	svc, err := Driver{}.Probe(ctx, ep, datastore.Look(ctx, ep, 10*time.Second), 10*time.Second)
	if err != nil || svc == nil {
		t.Fatalf("Probe(%s) = %v, %v", ep, svc, err)
	}
	if svc.Auth != datastore.AuthNone {
		return svc, nil
	}
	sess, err := Driver{}.Open(ctx, svc, 30*time.Second)
	if err != nil {
		t.Fatalf("Open(%s) = %v", ep, err)
	}
	t.Cleanup(func() { sess.Close() })
	return svc, sess.(*Session)
}

func capability(p datastore.Privileges, id string) datastore.Capability {
	for _, c := range p.Capabilities {
		if c.ID == id {
			return c
		}
	}
	return datastore.Capability{}
}

// TestLabWhoIsAnonymous: the capabilities come from what each server
// says of anonymous.
func TestLabWhoIsAnonymous(t *testing.T) {
	for _, c := range []struct {
		server  lab.ESServer
		display string
		tls     bool
		write   datastore.Verdict
		because string
	}{
		{lab.ESOpen, "Elasticsearch 7.17.25", false, datastore.Yes, "Security must be explicitly enabled"},
		{lab.ESAnonTLS, "Elasticsearch 8.15.3", true, datastore.Yes, `roles [superuser]`},
		{lab.OpenSearchOpen, "OpenSearch 2.17.1", false, datastore.Yes, "no handler found"},
	} {
		t.Run(c.server.Name, func(t *testing.T) {
			svc, sess := labSession(t, c.server)
			if !strings.HasPrefix(svc.DisplayName, c.display) || svc.TLS != c.tls {
				t.Errorf("Probe: %q, TLS %v; want %q…, TLS %v", svc.DisplayName, svc.TLS, c.display, c.tls)
			}
			p, err := sess.Privileges(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			w := capability(p, "write")
			if w.Granted != c.write || !strings.Contains(w.Evidence, c.because) {
				t.Errorf("write = %v (%q), want %v because of %q", w.Granted, w.Evidence, c.write, c.because)
			}
			if p.Readonly != datastore.No {
				t.Errorf("Readonly = %v, want no", p.Readonly)
			}
		})
	}
}

func TestLabLockedAndKibana(t *testing.T) {
	if !lab.Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set")
	}
	svc, _ := labSession(t, lab.ESLocked)
	if svc.Auth != datastore.AuthRequired || svc.AuthCode != 401 || !strings.Contains(svc.AuthMessage, "missing authentication credentials") {
		t.Errorf("locked: auth %s %d %q, want required 401 missing credentials", svc.Auth, svc.AuthCode, svc.AuthMessage)
	}
	svc, sess := labSession(t, lab.KibanaOpen)
	if svc.Protocol != "kibana" || svc.Version != "7.17.25" || sess == nil {
		t.Fatalf("kibana: protocol %q version %q", svc.Protocol, svc.Version)
	}
	p, _ := sess.Privileges(context.Background())
	if capability(p, "kibana").Granted != datastore.Yes {
		t.Errorf("kibana capability = %+v, want granted", p.Capabilities)
	}
}

// TestLabRansomNote: OpenSearch's read_me index is read into the note,
// redacted.
func TestLabRansomNote(t *testing.T) {
	_, sess := labSession(t, lab.OpenSearchOpen)
	inv, err := sess.Inventory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var note string
	for _, n := range inv.RansomNotes {
		if n.Name == lab.ESRansomIndex {
			note = n.Text
		}
	}
	if !strings.Contains(note, "BTC") || strings.Contains(note, "bc1qx7k3m9w2f5s8d4g6h0j2l4n6p8r0t2v4x6z8q") || strings.Contains(note, "recover.db@onionmail.org") {
		t.Errorf("the read_me note = %q; want its text with the address and e-mail cut", note)
	}
}

// TestLabMillionDocuments: the big index is sized from _cat/indices, its
// keyword counts are the server's over all of it, and what is read back is
// under 1% of it.
func TestLabMillionDocuments(t *testing.T) {
	_, sess := labSession(t, lab.ESOpen)
	ctx := context.Background()
	inv, err := sess.Inventory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var chat datastore.Table
	for _, tb := range inv.Databases[0].Tables {
		if tb.Name == lab.ESChatIndex {
			chat = tb
		}
	}
	if chat.Rows != lab.ESChatDocs {
		t.Fatalf("%s: %d documents, want %d", lab.ESChatIndex, chat.Rows, lab.ESChatDocs)
	}
	lim := datastore.Limits{Rows: 20, Random: 100, Bytes: 16 << 20, Timeout: 60 * time.Second, Keywords: []string{"sk-proj-", "AKIA", "用户", "no-such-keyword-xyz"}}
	rows, err := sess.Sample(ctx, chat, lim)
	if err != nil {
		t.Fatal(err)
	}
	// One document in 300 holds a special; the specials cycle through 64
	// values, every third personal data, the rest the 8 secret kinds.
	if n := rows.Counts["sk-proj-"]; n < 200 || n > 400 {
		t.Errorf("sk-proj- counted in %d documents, want the server's count over the whole index (about 260)", n)
	}
	if _, ok := rows.Counts["no-such-keyword-xyz"]; ok {
		t.Errorf("a keyword no document holds was counted: %v", rows.Counts)
	}
	if rows.ReadRows > lab.ESChatDocs/100 || rows.ReadBytes > chat.Bytes/100 {
		t.Errorf("read back %d documents, %d bytes: want under 1%% of %d documents, %d bytes", rows.ReadRows, rows.ReadBytes, chat.Rows, chat.Bytes)
	}
	found := false
	for _, r := range rows.Values {
		for _, v := range r {
			found = found || strings.Contains(v, "sk-proj-")
		}
	}
	if !found {
		t.Errorf("no document read back holds sk-proj-")
	}
	t.Logf("%s: read back %d documents, %d bytes (%.3f%% of %d bytes); counts %v", lab.ESChatIndex, rows.ReadRows, rows.ReadBytes, 100*float64(rows.ReadBytes)/float64(chat.Bytes), chat.Bytes, rows.Counts)
}
