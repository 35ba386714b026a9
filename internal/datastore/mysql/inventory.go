package mysql

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on what an inventory keeps, each enforced on our side too: a peer
// may ignore LIMIT.
const (
	maxListedDatabases = 10000
	maxListedTables    = 20000
	maxListedColumns   = 200000
	// maxStatQueries bounds the per-table statistics lookups made in
	// databases that also hold tables backed by other servers.
	maxStatQueries = 200
)

// systemSchemas are summarised: counted, not listed.
var systemSchemas = map[string]bool{"mysql": true, "information_schema": true, "performance_schema": true, "sys": true}

const systemList = "('mysql', 'information_schema', 'performance_schema', 'sys')"

// localEngine reports whether a table engine keeps its rows on this
// server. FEDERATED, CONNECT, SPIDER and S3 tables make the server reach
// out when read, or even when their statistics are asked for: they are
// named, never read.
func localEngine(e string) bool {
	switch strings.ToUpper(e) {
	case "INNODB", "MYISAM", "ARIA", "MEMORY", "HEAP", "CSV", "ARCHIVE", "MRG_MYISAM", "ROCKSDB", "TOKUDB", "BLACKHOLE", "XTRADB", "MYROCKS", "SEQUENCE":
		return true
	}
	return false
}

// Inventory implements datastore.Session: databases from
// information_schema.SCHEMATA, tables from TABLES (TABLE_ROWS is InnoDB's
// estimate; DATA_LENGTH + INDEX_LENGTH lags behind bulk writes until the
// server recalculates its statistics), columns from COLUMNS. It holds in
// memory only what the inventory returned holds, charged to the session.
func (s *Session) Inventory(ctx context.Context) (datastore.Inventory, error) {
	s.mem.reset(s.invHeld + s.rowsHeld)
	inv, err := s.inventory(ctx)
	s.invHeld = inventoryCost(inv)
	s.mem.reset(s.invHeld + s.rowsHeld)
	return inv, err
}

func (s *Session) inventory(ctx context.Context) (datastore.Inventory, error) {
	var inv datastore.Inventory
	dbs, err := s.q(ctx, fmt.Sprintf("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME LIMIT %d", maxListedDatabases+1), maxListedDatabases, 32<<20)
	if err != nil {
		return inv, fmt.Errorf("listing databases: %w", err)
	}
	if dbs.Cut != "" || len(dbs.Rows) >= maxListedDatabases {
		inv.Truncate(fmt.Sprintf("databases listed: the first %d (%s)", len(dbs.Rows), orWhy(dbs.Cut, "LIMIT reached")))
	}
	byName := map[string]int{}
	for _, r := range dbs.Rows {
		if len(r) != 1 {
			continue
		}
		byName[r[0]] = len(inv.Databases)
		inv.Databases = append(inv.Databases, datastore.Database{Name: r[0], System: systemSchemas[strings.ToLower(r[0])]})
	}
	// System schemas: only how many tables they hold.
	if sys, err := s.q(ctx, "SELECT TABLE_SCHEMA, COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN "+systemList+" GROUP BY TABLE_SCHEMA", 10, 1<<20); err == nil {
		for _, r := range sys.Rows {
			if i, ok := byName[r[0]]; ok && len(r) == 2 {
				inv.Databases[i].TableCount, _ = strconv.Atoi(r[1])
			}
		}
	}
	// Names, kinds and engines come from the table definitions alone: no
	// table is opened, so no FEDERATED table reaches out.
	tabs, err := s.q(ctx, fmt.Sprintf("SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, IFNULL(ENGINE, '') FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN %s ORDER BY TABLE_SCHEMA, TABLE_NAME LIMIT %d",
		systemList, maxListedTables+1), maxListedTables, 32<<20)
	if err != nil {
		return inv, fmt.Errorf("listing tables: %w", err)
	}
	if tabs.Cut != "" || len(tabs.Rows) >= maxListedTables {
		inv.Truncate(fmt.Sprintf("tables listed: the first %d (%s)", len(tabs.Rows), orWhy(tabs.Cut, "LIMIT reached")))
	}
	type key struct{ db, t string }
	where := map[key]*datastore.Table{}
	remote := map[string]bool{} // databases holding a table backed elsewhere
	for _, r := range tabs.Rows {
		if len(r) != 4 {
			continue
		}
		i, ok := byName[r[0]]
		if !ok || inv.Databases[i].System {
			continue
		}
		db := &inv.Databases[i]
		db.TableCount++
		t := datastore.Table{Database: r[0], Name: r[1], Kind: kindOf(r[2]), Engine: r[3], Rows: -1, Bytes: -1}
		if t.Kind == "table" && !localEngine(t.Engine) {
			remote[r[0]] = true
			t.Truncation = append(t.Truncation, fmt.Sprintf("engine %s keeps its rows elsewhere: named, never read", clean(t.Engine, 40)))
		}
		db.Tables = append(db.Tables, t)
	}
	for i := range inv.Databases {
		for j := range inv.Databases[i].Tables {
			t := &inv.Databases[i].Tables[j]
			where[key{t.Database, t.Name}] = t
		}
	}
	// Sizes: one query per database, or, where a database also holds
	// tables backed elsewhere, one lookup per local table (a lookup by
	// schema and name opens that table only).
	statCols := "TABLE_SCHEMA, TABLE_NAME, IFNULL(TABLE_ROWS, -1), IFNULL(DATA_LENGTH + INDEX_LENGTH, -1)"
	lookups, skipped := 0, 0
	for i := range inv.Databases {
		db := &inv.Databases[i]
		if db.System || len(db.Tables) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			inv.Truncate("sizes not read past database " + clean(db.Name, 80) + ": " + err.Error())
			break
		}
		var stmts []string
		if !remote[db.Name] {
			stmts = append(stmts, fmt.Sprintf("SELECT %s FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_TYPE <> 'VIEW' LIMIT %d", statCols, strLit(db.Name), maxListedTables))
		} else {
			for _, t := range db.Tables {
				if t.Kind != "table" || !localEngine(t.Engine) {
					continue
				}
				if lookups >= maxStatQueries {
					skipped++
					continue
				}
				lookups++
				stmts = append(stmts, fmt.Sprintf("SELECT %s FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", statCols, strLit(db.Name), strLit(t.Name)))
			}
		}
		for _, q := range stmts {
			res, err := s.q(ctx, q, maxListedTables, 32<<20)
			if err != nil {
				inv.Truncate(fmt.Sprintf("sizes of database %s not read: %v", clean(db.Name, 80), err))
				break
			}
			for _, r := range res.Rows {
				if len(r) != 4 {
					continue
				}
				t := where[key{r[0], r[1]}]
				if t == nil || !localEngine(t.Engine) {
					continue
				}
				t.Rows, t.Bytes = datastore.ParseCount(r[2]), datastore.ParseCount(r[3])
				t.RowsExact = strings.EqualFold(t.Engine, "MyISAM") && t.Rows >= 0
				if t.Rows > 1000 && t.Bytes >= 0 && t.Bytes < t.Rows {
					t.Truncation = append(t.Truncation, "bytes are the server's statistics, not yet recalculated after recent writes")
				}
			}
		}
	}
	if skipped > 0 {
		inv.Truncate(fmt.Sprintf("sizes of %d tables not read: at most %d lookups a session in databases with tables backed by other servers", skipped, maxStatQueries))
	}
	cols, err := s.q(ctx, fmt.Sprintf("SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA NOT IN %s ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION LIMIT %d",
		systemList, maxListedColumns+1), maxListedColumns, 64<<20)
	if err != nil {
		inv.Truncate("columns not listed: " + err.Error())
		return inv, nil
	}
	if cols.Cut != "" || len(cols.Rows) >= maxListedColumns {
		inv.Truncate(fmt.Sprintf("columns listed: the first %d; tables past them are listed without columns and not sampled (%s)", len(cols.Rows), orWhy(cols.Cut, "LIMIT reached")))
	}
	for _, r := range cols.Rows {
		if len(r) != 4 {
			continue
		}
		if t := where[key{r[0], r[1]}]; t != nil {
			t.Columns = append(t.Columns, datastore.Column{Name: r[2], Type: r[3]})
		}
	}
	return inv, nil
}

func kindOf(tableType string) string {
	switch strings.ToUpper(tableType) {
	case "VIEW", "SYSTEM VIEW":
		return "view"
	case "SEQUENCE":
		return "sequence"
	}
	return "table"
}

func orWhy(cut, def string) string {
	if cut != "" {
		return cut
	}
	return def
}

// inventoryCost is what an inventory holds: its names, and a struct for
// each database, table and column.
func inventoryCost(inv datastore.Inventory) int64 {
	n := int64(unsafe.Sizeof(inv))
	for _, db := range inv.Databases {
		n += int64(unsafe.Sizeof(db)) + int64(len(db.Name))
		for _, t := range db.Tables {
			n += int64(unsafe.Sizeof(t)) + int64(len(t.Database)+len(t.Name)+len(t.Engine))
			for _, c := range t.Columns {
				n += int64(unsafe.Sizeof(c)) + int64(len(c.Name)+len(c.Type))
			}
			for _, x := range t.Truncation {
				n += int64(len(x)) + 16
			}
		}
	}
	return n
}
