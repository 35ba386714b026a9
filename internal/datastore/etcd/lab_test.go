package etcd

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
	"github.com/leakhound/leakhound/internal/lab"
)

// TestLabOpen: the open etcd's prefixes are counted exactly without
// reading the keyspace, its Kubernetes Secrets are secret on sight and
// their values classified, and the big prefix is sized reading under 1%.
func TestLabOpen(t *testing.T) {
	if !lab.Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set")
	}
	ctx := context.Background()
	for _, srv := range []lab.EtcdServer{lab.EtcdOpen, lab.EtcdTLS} {
		ep := datastoretest.Endpoint(srv.Host, srv.Port)
		svc, err := Driver{}.Probe(ctx, ep, datastore.Look(ctx, ep, hostileTimeout*5), hostileTimeout*5)
		if err != nil || svc == nil || svc.Auth != datastore.AuthNone || svc.TLS != srv.TLS || svc.Version != "3.4.23" {
			t.Fatalf("Probe(%s) = %+v, %v; want etcd 3.4.23, auth none, TLS %v", ep, svc, err, srv.TLS)
		}
		if !srv.Full {
			continue
		}
		sess, err := Driver{}.Open(ctx, svc, hostileTimeout*5)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		inv, err := sess.Inventory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byName := map[string]datastore.Table{}
		for _, tb := range inv.Databases[0].Tables {
			byName[tb.Name] = tb
		}
		for name, want := range map[string]int64{"/registry/events/default/": lab.EtcdEventKeys, "/chat/sessions/": lab.EtcdChatKeys,
			"/users/profiles/": lab.EtcdProfileKeys, "/registry/secrets/prod/": 4, "/registry/secrets/kube-system/": 3} {
			if tb := byName[name]; tb.Rows != want || !tb.RowsExact {
				t.Errorf("%s: %d keys (exact %v), want %d exact", name, tb.Rows, tb.RowsExact, want)
			}
		}
		secrets := byName["/registry/secrets/kube-system/"]
		if !slices.Contains(secrets.Classes, "secret") {
			t.Errorf("/registry/secrets/kube-system/ classes %q; want secret on sight", secrets.Classes)
		}
		rows, err := sess.Sample(ctx, secrets, datastore.Limits{Random: 100, Bytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		e := classify.Default()
		for _, f := range e.Size(&secrets, rows, classify.Sample, 0) {
			kinds = append(kinds, f.Kind)
			if !strings.HasPrefix(f.Column, "/registry/secrets/kube-system/") {
				t.Errorf("detection %s at column %q; want the Secret's key", f.Kind, f.Column)
			}
		}
		for _, k := range []string{"jwt", "private_key"} {
			if !slices.Contains(kinds, k) {
				t.Errorf("kube-system Secrets: kinds %q lack %s", kinds, k)
			}
		}
		events := byName["/registry/events/default/"]
		rows, err = sess.Sample(ctx, events, datastore.Limits{Rows: 20, Random: 100, Bytes: 16 << 20})
		if err != nil || rows.ReadRows == 0 || rows.ReadRows*100 >= events.Rows {
			t.Errorf("events: read %d of %d keys, %v; want some, under 1%%", rows.ReadRows, events.Rows, err)
		}
	}
}

// TestLabLocked: auth on is "required", with etcd's own words.
func TestLabLocked(t *testing.T) {
	if !lab.Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set")
	}
	ctx := context.Background()
	ep := datastoretest.Endpoint(lab.EtcdLocked.Host, lab.EtcdLocked.Port)
	svc, err := Driver{}.Probe(ctx, ep, datastore.Look(ctx, ep, hostileTimeout*5), hostileTimeout*5)
	if err != nil || svc == nil || svc.Auth != datastore.AuthRequired || !strings.Contains(svc.AuthMessage, "user name is empty") {
		t.Fatalf("Probe(%s) = %+v, %v; want required: user name is empty", ep, svc, err)
	}
	if _, err := (Driver{}).Open(ctx, svc, hostileTimeout); err == nil {
		t.Errorf("Open(a locked etcd) = nil error; want no session")
	}
}
