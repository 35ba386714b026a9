package mongodb

import (
	"context"
	"fmt"
	"strings"
	"unsafe"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on what an inventory keeps, each enforced on our side.
const (
	maxListedDatabases   = 10000
	maxCollectionsPerDB  = 5000
	maxListedCollections = 20000
	// maxStatQueries bounds the collStats calls of one inventory.
	maxStatQueries = 500
	// noteBytes is how much of a ransom note is kept to be shown, redacted.
	noteBytes = 2048
)

// systemDatabases are summarised: counted, not listed.
var systemDatabases = map[string]bool{"admin": true, "local": true, "config": true}

// Inventory implements datastore.Session: databases and sizeOnDisk from
// listDatabases, collections from listCollections, documents and bytes
// from collStats (the server's counts, from its metadata).
func (s *Session) Inventory(ctx context.Context) (datastore.Inventory, error) {
	s.mem.reset(s.invHeld + s.rowsHeld)
	inv, err := s.inventory(ctx)
	s.invHeld = inventoryCost(inv)
	s.mem.reset(s.invHeld + s.rowsHeld)
	return inv, err
}

func (s *Session) inventory(ctx context.Context) (datastore.Inventory, error) {
	var inv datastore.Inventory
	mark := s.mem.mark()
	d, err := s.cmd(ctx, "admin", doc{{"listDatabases", int32(1)}, {"nameOnly", false}}, 16<<20)
	if err != nil {
		return inv, fmt.Errorf("listing databases: %w", err)
	}
	for _, e := range d.Sub("databases") {
		db := u2d(e.Val)
		if db == nil {
			continue
		}
		if len(inv.Databases) >= maxListedDatabases {
			inv.Truncate(fmt.Sprintf("databases listed: the first %d", maxListedDatabases))
			break
		}
		name := db.Str("name")
		inv.Databases = append(inv.Databases, datastore.Database{Name: name, System: systemDatabases[name]})
	}
	s.mem.reset(mark)
	listed, stats := 0, 0
	for i := range inv.Databases {
		db := &inv.Databases[i]
		if err := ctx.Err(); err != nil {
			inv.Truncate("collections not listed past database " + clean(db.Name, 80) + ": " + err.Error())
			break
		}
		if listed >= maxListedCollections {
			inv.Truncate(fmt.Sprintf("collections listed: the first %d", maxListedCollections))
			break
		}
		mark := s.mem.mark()
		colls, more, _, err := s.cursor(ctx, db.Name, doc{{"listCollections", int32(1)}, {"nameOnly", false},
			{"authorizedCollections", true}, {"cursor", doc{{"batchSize", int32(1000)}}}}, "$cmd.listCollections",
			min(maxCollectionsPerDB, maxListedCollections-listed), 32<<20)
		if err != nil {
			inv.Truncate(fmt.Sprintf("collections of database %s not listed: %v", clean(db.Name, 80), err))
			s.mem.reset(mark)
			continue
		}
		if more {
			inv.Truncate(fmt.Sprintf("collections of database %s: the first %d listed", clean(db.Name, 80), len(colls)))
		}
		db.TableCount = len(colls)
		listed += len(colls)
		if db.System {
			s.mem.reset(mark)
			continue
		}
		for _, c := range colls {
			name := c.Str("name")
			kind := c.Str("type")
			if kind == "" {
				kind = "collection"
			}
			t := datastore.Table{Database: db.Name, Name: name, Kind: kind, Rows: -1, Bytes: -1}
			if kind != "collection" || strings.HasPrefix(name, "system.") {
				t.Truncation = append(t.Truncation, kind+": named, never read")
				t.Rows = 0
				if kind == "view" {
					t.Rows = -1
				}
			}
			db.Tables = append(db.Tables, t)
		}
		s.mem.reset(mark)
		for j := range db.Tables {
			t := &db.Tables[j]
			if t.Kind != "collection" || strings.HasPrefix(t.Name, "system.") {
				continue
			}
			if stats >= maxStatQueries {
				t.Truncation = append(t.Truncation, fmt.Sprintf("not sized: at most %d collStats a session", maxStatQueries))
				continue
			}
			stats++
			m := s.mem.mark()
			st, err := s.cmd(ctx, db.Name, doc{{"collStats", t.Name}, {"scale", int32(1)}}, 4<<20)
			if err != nil {
				// collStats is deprecated past MongoDB 6.2, and FerretDB 1.x
				// fails it on some names: a count (from metadata on
				// MongoDB) still gives the documents.
				t.Truncation = append(t.Truncation, "collStats refused: "+clean(err.Error(), 200))
				if c, cerr := s.cmd(ctx, db.Name, doc{{"count", t.Name}, {"maxTimeMS", max(s.timeout.Milliseconds(), 1)}}, 64<<10); cerr == nil {
					t.Rows = c.Int("n")
				}
				s.mem.reset(m)
				s.readNote(ctx, &inv, db.Name, t)
				continue
			}
			t.Rows, t.Bytes = st.Int("count"), st.Int("size")
			if st.Sub("wiredTiger") != nil {
				t.Engine = "wiredTiger"
			}
			s.mem.reset(m)
			s.readNote(ctx, &inv, db.Name, t)
		}
	}
	return inv, nil
}

// readNote reads the first document of a collection named like a ransom
// note (or in a database so named), at most noteBytes of it, into
// inv.RansomNotes when it reads as a demand, redacted.
func (s *Session) readNote(ctx context.Context, inv *datastore.Inventory, db string, t *datastore.Table) {
	if !datastore.RansomName(t.Name) && !datastore.RansomName(db) {
		return
	}
	mark := s.mem.mark()
	defer s.mem.reset(mark)
	docs, _, _, err := s.cursor(ctx, t.Database, doc{{"find", t.Name}, {"limit", int32(1)}, {"batchSize", int32(1)},
		{"singleBatch", true}, {"maxTimeMS", int32(s.timeout.Milliseconds())}}, t.Name, 1, 256<<10)
	if err != nil || len(docs) == 0 {
		return
	}
	var parts []string
	flatten(docs[0], "", func(path, text string) {
		if path != "_id" {
			parts = append(parts, path+": "+text)
		}
	}, 0)
	note := strings.Join(parts, "; ")
	if note = clean(note, noteBytes); !datastore.RansomText(note) {
		return
	}
	inv.RansomNotes = append(inv.RansomNotes, datastore.RansomNote{Database: db, Name: t.Name, Text: datastore.RedactNote(note)})
}

// inventoryCost is what an inventory holds: its names, and a struct for
// each database and table.
func inventoryCost(inv datastore.Inventory) int64 {
	n := int64(unsafe.Sizeof(inv))
	for _, db := range inv.Databases {
		n += int64(unsafe.Sizeof(db)) + int64(len(db.Name))
		for _, t := range db.Tables {
			n += int64(unsafe.Sizeof(t)) + int64(len(t.Database)+len(t.Name)+len(t.Kind))
			for _, x := range t.Truncation {
				n += int64(len(x)) + 16
			}
		}
	}
	return n
}
