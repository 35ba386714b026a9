package elasticsearch

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unsafe"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on an inventory, enforced on our side whatever the server sends.
const (
	maxListedIndices = 10000
	maxRansomReads   = 8
)

// systemDatabase is where indices whose name starts with a dot (.kibana,
// .security, …, Elasticsearch's system and hidden indices) are counted.
const systemDatabase = ".system"

// Inventory implements datastore.Session: one database named after the
// cluster, holding its indices with documents and bytes from
// _cat/indices?format=json&bytes=b and fields from _mapping; indices
// whose name starts with a dot are counted in a system database. An index
// named like a ransom note has its first document read (one search, size
// 1) into Inventory.RansomNotes when it reads as a demand.
func (s *Session) Inventory(ctx context.Context) (datastore.Inventory, error) {
	var inv datastore.Inventory
	if s.kibana {
		inv.Databases = []datastore.Database{}
		return inv, nil
	}
	a, err := s.c.get(ctx, "/_cat/indices?format=json&bytes=b", nil, catCap, s.timeout)
	if err != nil {
		return inv, fmt.Errorf("%s: listing indices: %w", s.svc.Endpoint, err)
	}
	if a.status != http.StatusOK {
		return inv, fmt.Errorf("%s: listing indices: _cat/indices answered %d: %s", s.svc.Endpoint, a.status, errorReason(a.body))
	}
	rows, more, err := parseCat(a.body, maxListedIndices)
	if err != nil {
		return inv, fmt.Errorf("%s: %w", s.svc.Endpoint, err)
	}
	if more {
		inv.Truncate(fmt.Sprintf("indices listed: the first %d", maxListedIndices))
	}
	name := s.root.ClusterName
	if name == "" {
		name = "cluster"
	}
	user := datastore.Database{Name: name}
	sys := datastore.Database{Name: systemDatabase, System: true}
	for _, r := range rows {
		if r.Index == "" {
			continue
		}
		if strings.HasPrefix(r.Index, ".") {
			sys.TableCount++
			continue
		}
		t := datastore.Table{Database: name, Name: r.Index, Kind: "index", Rows: datastore.ParseCount(r.DocsCount), Bytes: datastore.ParseCount(r.StoreSize)}
		if r.Status == "close" {
			t.Rows, t.Bytes = -1, -1
			t.Truncation = append(t.Truncation, "the index is closed: named, never opened")
		}
		user.Tables = append(user.Tables, t)
	}
	user.TableCount = len(user.Tables)
	inv.Databases = []datastore.Database{user, sys}

	// Fields: one _mapping for every index; an answer past its cap leaves
	// the indices listed without fields, and unsampled.
	s.fields = map[string][]fieldInfo{}
	m, err := s.c.get(ctx, "/_mapping", nil, mappingCap, s.timeout)
	switch {
	case err != nil:
		inv.Truncate("fields not listed: " + err.Error())
	case m.status != http.StatusOK:
		inv.Truncate(fmt.Sprintf("fields not listed: _mapping answered %d: %s", m.status, errorReason(m.body)))
	default:
		fields, err := parseMapping(m.body)
		if err != nil {
			inv.Truncate("fields not listed: " + err.Error())
		}
		s.fields = fields
	}
	reads := 0
	for i := range inv.Databases[0].Tables {
		t := &inv.Databases[0].Tables[i]
		for _, f := range s.fields[t.Name] {
			typ := f.Type
			if f.Keyword != "" && f.Keyword != f.Path {
				typ += " (+" + strings.TrimPrefix(f.Keyword, f.Path+".") + " keyword)"
			}
			t.Columns = append(t.Columns, datastore.Column{Name: f.Path, Type: typ})
		}
		if datastore.RansomName(t.Name) && t.Rows != 0 && reads < maxRansomReads {
			reads++
			if note := s.ransomNote(ctx, t.Name); note != "" {
				inv.RansomNotes = append(inv.RansomNotes, datastore.RansomNote{Database: t.Database, Name: t.Name, Text: note})
			}
		}
	}
	s.invHeld = inventoryCost(inv) + fieldsCost(s.fields)
	if s.invHeld > datastore.SessionMemory/2 {
		return inv, fmt.Errorf("%s: the inventory holds %d MiB, more than leakhound keeps of one server", s.svc.Endpoint, s.invHeld>>20)
	}
	return inv, nil
}

// ransomNote reads the first document of index as text, redacted, or
// "" when it does not read as a ransom demand.
func (s *Session) ransomNote(ctx context.Context, index string) string {
	a, err := s.c.get(ctx, "/"+url.PathEscape(index)+"/_search", []byte(`{"size":1,"timeout":"5s"}`), 64<<10, s.timeout)
	if err != nil || a.status != http.StatusOK {
		return ""
	}
	var cols []string
	for _, f := range s.fields[index] {
		cols = append(cols, f.Path)
	}
	hits, err := parseHits(a.body, cols, 4096)
	if err != nil || len(hits.Rows) == 0 {
		return ""
	}
	var parts []string
	for _, v := range hits.Rows[0] {
		if v != "" {
			parts = append(parts, v)
		}
	}
	text := strings.Join(parts, " ")
	if !datastore.RansomText(text) {
		return ""
	}
	return datastore.RedactNote(text)
}

func inventoryCost(inv datastore.Inventory) int64 {
	n := int64(unsafe.Sizeof(inv))
	for _, db := range inv.Databases {
		n += int64(unsafe.Sizeof(db)) + int64(len(db.Name))
		for _, t := range db.Tables {
			n += int64(unsafe.Sizeof(t)) + int64(len(t.Database)+len(t.Name))
			for _, c := range t.Columns {
				n += int64(unsafe.Sizeof(c)) + int64(len(c.Name)+len(c.Type))
			}
		}
	}
	return n
}

func fieldsCost(m map[string][]fieldInfo) int64 {
	var n int64
	for k, fs := range m {
		n += int64(len(k)) + 48
		for _, f := range fs {
			n += int64(unsafe.Sizeof(f)) + int64(len(f.Path)+len(f.Type)+len(f.Keyword))
		}
	}
	return n
}
