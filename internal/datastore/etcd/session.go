package etcd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds of a session.
const (
	// maxPrefixes is how many key prefixes the inventory lists; each costs
	// two small reads (the next key name, then the prefix's count).
	maxPrefixes = 500
	// maxSampleKeys is the most keys one Sample reads, whatever it is asked.
	maxSampleKeys = 200
	// valueCap is the most of one value kept for classification.
	valueCap = 64 << 10
	// maxKeyBytes bounds a key name kept (etcd allows 1.5 MiB).
	maxKeyBytes = 4 << 10
	// Database is the one database an etcd server's inventory shows: its
	// keyspace; the tables are key prefixes.
	Database = "keyspace"
	// SecretsPrefix is where Kubernetes keeps Secrets, in plaintext unless
	// the API server encrypts them at rest.
	SecretsPrefix = "/registry/secrets/"
)

var _ datastore.Session = (*Session)(nil)

// Session is a read-only session on an etcd server whose auth is off.
type Session struct {
	svc *datastore.Service
	c   *client
	// held is what the session keeps of the server's answers: the
	// inventory's names and the last Sample's keys and values.
	invHeld, rowsHeld int64
	kubernetes        bool // the inventory saw Kubernetes' /registry/
}

// Close implements datastore.Session.
func (s *Session) Close() error {
	s.c.close()
	return nil
}

func (s *Session) charge(n int64) error {
	if n > datastore.SessionMemory-s.invHeld-s.rowsHeld {
		return fmt.Errorf("%s sent more than the %d MiB leakhound holds of one server's answers", s.svc.Endpoint, datastore.SessionMemory>>20)
	}
	return nil
}

// ServerID implements datastore.Session: the cluster and member ids of
// maintenance status, which etcd answers even with auth on.
func (s *Session) ServerID(ctx context.Context) (datastore.ServerID, error) {
	st, err := s.c.status(ctx)
	if err != nil {
		return datastore.ServerID{}, fmt.Errorf("%s: the server's identity: %w", s.svc.Endpoint, err)
	}
	if st.Header.MemberID == "" {
		return datastore.ServerID{}, fmt.Errorf("%s: the server's identity: status names no member", s.svc.Endpoint)
	}
	return datastore.ServerID{Engine: "etcd", Key: s.svc.Endpoint.IP.String() + "|" + st.Header.ClusterID + "|" + st.Header.MemberID}, nil
}

// Privileges implements datastore.Session. etcd checks permissions only
// when auth is on, and with auth on it answers nothing to a request
// without a user name: the range read the probe made without credentials
// proves auth off, and with it every permission, write and administration
// included. /v3/auth/status (3.5+) says so too where the server has it.
// Nothing is tried.
func (s *Session) Privileges(ctx context.Context) (datastore.Privileges, error) {
	ev := []string{"a range read sent without a user name or token was answered: etcd's auth is off, and without auth etcd checks no permission"}
	details := map[string]any{"auth_enabled": false}
	var st struct {
		Enabled *bool `json:"enabled"`
	}
	if _, err := s.c.post(ctx, "/auth/status", struct{}{}, smallAnswer, &st); err == nil && st.Enabled != nil {
		ev = append(ev, fmt.Sprintf("%s/auth/status says enabled: %t", s.c.api, *st.Enabled))
		details["auth_enabled"] = *st.Enabled
	}
	verdict := datastore.Yes
	if st.Enabled != nil && *st.Enabled {
		// Auth on, and yet we were answered: a permission we cannot read
		// without a user; say unknown rather than guess.
		verdict = datastore.Unknown
	}
	fix := fixAuth
	p := datastore.Privileges{Evidence: ev, Details: details, Capabilities: []datastore.Capability{
		{ID: "kv_write", Granted: verdict, Impact: datastore.ImpactWrite, Evidence: ev[0],
			Summary:     "anyone can put and delete keys, run transactions and compact the history (etcd's auth is off)",
			Remediation: fix},
		{ID: "cluster_admin", Granted: verdict, Impact: datastore.ImpactAdminister, Evidence: ev[0],
			Summary:     "anyone can administer the cluster: enable auth and lock its owners out, add or remove members, defragment, raise alarms, take a snapshot of the whole database",
			Remediation: fix},
	}}
	p.Readonly = p.ReadonlyByCapabilities()
	return p, nil
}

// Pushdown implements datastore.Session: etcd filters keys by range only,
// never by what a value holds; values are classified as read back.
func (s *Session) Pushdown() datastore.Pushdown { return datastore.Pushdown{} }

// Inventory implements datastore.Session. Keys are counted per prefix
// (datastore.KeyPrefix) without reading the keyspace: the first key name
// after a cursor gives a prefix, a count_only range over the prefix counts
// it, and the cursor jumps past it. A million keys under twenty prefixes
// cost forty small reads.
func (s *Session) Inventory(ctx context.Context) (datastore.Inventory, error) {
	s.invHeld = 0
	inv := datastore.Inventory{}
	db := datastore.Database{Name: Database}
	total, _, err := s.c.count(ctx, allKeys, allKeys)
	if err != nil {
		return inv, fmt.Errorf("%s: counting keys: %w", s.svc.Endpoint, err)
	}
	cursor := allKeys
	var listed int64
	for {
		if err := ctx.Err(); err != nil {
			return inv, err
		}
		if len(db.Tables) == maxPrefixes {
			inv.Truncate(fmt.Sprintf("listed the first %d key prefixes, holding %d of %d keys", maxPrefixes, listed, total))
			break
		}
		r, _, err := s.c.rangeOf(ctx, rangeRequest{Key: cursor, RangeEnd: allKeys, Limit: 1, KeysOnly: true}, smallAnswer)
		if errors.Is(err, errTooLarge) {
			inv.Truncate(fmt.Sprintf("a key name past %d bytes stopped the listing after %d prefixes", smallAnswer, len(db.Tables)))
			break
		}
		if err != nil {
			return inv, fmt.Errorf("%s: listing keys: %w", s.svc.Endpoint, err)
		}
		if len(r.KVs) == 0 {
			break
		}
		key := r.KVs[0].Key
		if bytes.Compare(key, cursor) < 0 {
			// Keys come in order: a server that goes back is lying, and
			// would have the listing loop.
			inv.Truncate(fmt.Sprintf("the server answered key %q before the cursor %q: listing stopped", clip(string(key), 80), clip(string(cursor), 80)))
			break
		}
		prefix := []byte(datastore.KeyPrefix(string(key)))
		if len(prefix) == 0 {
			prefix = key // a key of its own
		}
		if len(prefix) > maxKeyBytes {
			prefix = prefix[:maxKeyBytes]
		}
		end := prefixEnd(prefix)
		n, _, err := s.c.count(ctx, prefix, end)
		if err != nil {
			return inv, fmt.Errorf("%s: counting %q: %w", s.svc.Endpoint, clip(string(prefix), 80), err)
		}
		if err := s.charge(int64(len(prefix)) + 200); err != nil {
			inv.Truncate(err.Error())
			break
		}
		s.invHeld += int64(len(prefix)) + 200
		// etcd keeps no size per prefix: Bytes is unknown.
		t := datastore.Table{Database: Database, Name: string(prefix), Kind: "prefix", Rows: n, RowsExact: n >= 0, Bytes: -1}
		if strings.HasPrefix(t.Name, "/registry/") {
			s.kubernetes = true
		}
		if strings.HasPrefix(t.Name, SecretsPrefix) && n > 0 {
			// Critical on sight: what Kubernetes keeps here is every
			// service account token, registry credential and TLS key
			// of the cluster, unless encrypted at rest.
			t.Classes = []string{"secret"}
		}
		db.Tables = append(db.Tables, t)
		listed = datastore.AddCount(listed, max(n, 0))
		if bytes.Equal(end, allKeys) {
			break
		}
		cursor = end
	}
	db.TableCount = len(db.Tables)
	inv.Databases = []datastore.Database{db}
	return inv, nil
}

// Sample implements datastore.Session: the first keys of the prefix, in
// key order (etcd has no random read), as many as lim asks for (at most
// maxSampleKeys), with their values, in one range read capped at the
// byte budget; when the values are larger than that, the key names are
// read and then each value alone, skipping those past valueCap.
//
// Each key is a column and each record holds its key's value alone, so a
// detection's location names the key.
func (s *Session) Sample(ctx context.Context, t datastore.Table, lim datastore.Limits) (datastore.Rows, error) {
	s.rowsHeld = 0
	out := datastore.Rows{}
	if t.Kind != "prefix" {
		return out, nil
	}
	n := int64(wanted(lim))
	if n == 0 {
		return out, nil
	}
	n = min(n, maxSampleKeys)
	budget := lim.Bytes
	if budget <= 0 {
		budget = 16 << 20
	}
	// An answer is held twice while it is decoded (its JSON, then the
	// keys and values): both within the session's memory.
	budget = min(budget, (datastore.SessionMemory-s.invHeld)/3)
	prefix := []byte(t.Name)
	end := prefixEnd(prefix)
	add := func(kv keyValue) error {
		k, v := kv.Key, kv.Value
		if len(k) > maxKeyBytes {
			k = k[:maxKeyBytes]
		}
		if len(v) > valueCap {
			v = v[:valueCap]
			out.Truncation = appendOnce(out.Truncation, fmt.Sprintf("values read up to %d bytes each", valueCap))
		}
		cost := int64(len(k)+len(v)) + 64 + 16*int64(len(out.Columns)+1)
		if err := s.charge(cost); err != nil {
			return err
		}
		s.rowsHeld += cost
		out.Columns = append(out.Columns, string(k))
		out.Values = append(out.Values, []string{string(v)})
		out.ReadRows++
		return nil
	}
	r, nb, err := s.c.rangeOf(ctx, rangeRequest{Key: prefix, RangeEnd: end, Limit: n}, budget)
	out.ReadBytes += nb
	switch {
	case err == nil:
		for _, kv := range r.KVs {
			if err := add(kv); err != nil {
				out.Truncation = append(out.Truncation, err.Error())
				break
			}
		}
	case errors.Is(err, errTooLarge):
		out.Truncation = append(out.Truncation, fmt.Sprintf("%d values were past the %d-byte budget together: read one by one", n, budget))
		if err := s.sampleEach(ctx, prefix, end, n, budget, &out, add); err != nil {
			return s.square(out), fmt.Errorf("sampling %q: %w", clip(t.Name, 80), err)
		}
	default:
		return out, fmt.Errorf("sampling %q: %w", clip(t.Name, 80), err)
	}
	return s.square(out), nil
}

// wanted is how many records lim asks for: lim.Rows per filter, and
// lim.Random. etcd runs no filter (Pushdown), so only lim.Random counts
// unless a caller passes filters anyway; their rows are read in key order.
func wanted(lim datastore.Limits) int {
	return max(lim.Random, 0) + max(lim.Rows, 0)*(len(lim.Keywords)+len(lim.Patterns))
}

// sampleEach reads the key names, then each value alone.
func (s *Session) sampleEach(ctx context.Context, prefix, end []byte, n, budget int64, out *datastore.Rows, add func(keyValue) error) error {
	keys, nb, err := s.c.rangeOf(ctx, rangeRequest{Key: prefix, RangeEnd: end, Limit: n, KeysOnly: true}, min(budget, 4<<20))
	out.ReadBytes += nb
	if err != nil {
		return err
	}
	for _, kv := range keys.KVs {
		if out.ReadBytes >= budget {
			out.Truncation = append(out.Truncation, fmt.Sprintf("the %d-byte budget ran out after %d keys", budget, out.ReadRows))
			return nil
		}
		one, nb, err := s.c.rangeOf(ctx, rangeRequest{Key: kv.Key}, min(budget-out.ReadBytes, valueCap*4/3+4096))
		out.ReadBytes += nb
		if errors.Is(err, errTooLarge) {
			out.Truncation = appendOnce(out.Truncation, fmt.Sprintf("values past %d bytes not read", valueCap))
			continue
		}
		if err != nil {
			return err
		}
		for _, v := range one.KVs {
			if err := add(v); err != nil {
				out.Truncation = append(out.Truncation, err.Error())
				return nil
			}
		}
	}
	return nil
}

// square makes the records a square: record i holds key i's value in
// column i and nothing elsewhere.
func (s *Session) square(r datastore.Rows) datastore.Rows {
	n := len(r.Columns)
	for i := range r.Values {
		row := make([]string, n)
		row[i] = r.Values[i][0]
		r.Values[i] = row
	}
	return r
}

func appendOnce(xs []string, x string) []string {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}

// fixAuth closes the exposure itself.
const fixAuth = "Enable etcd's auth: etcdctl user add root, etcdctl auth enable; give every client its own user and a role limited to its prefix, read-only where it only reads"

// Remediation implements datastore.Session.
func (s *Session) Remediation(p datastore.Privileges) []string {
	out := []string{
		fixAuth,
		"Require client certificates (--client-cert-auth=true --trusted-ca-file=…) and serve clients over TLS only (--cert-file, --key-file)",
		"Listen for clients on internal addresses only (--listen-client-urls), and firewall 2379 and 2380 from untrusted networks",
	}
	if s != nil && s.kubernetes {
		out = append(out, "Encrypt Kubernetes Secrets at rest (kube-apiserver --encryption-provider-config), and rotate every Secret and service-account token stored here: anyone could read them")
	}
	return out
}
