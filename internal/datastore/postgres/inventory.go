package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// Bounds on an inventory; each is held on our side too, as a peer may
// ignore LIMIT.
const (
	maxDatabases        = 1000  // databases listed
	maxReadDatabases    = 50    // databases connected to and listed table by table
	maxTables           = 10000 // tables listed per database
	maxColumns          = 100000
	maxPerTable         = 400    // count and sample queries a session runs
	exactCountRows      = 100000 // tables estimated at most this are counted exactly
	exactCountMaxBytes  = 64 << 20
	estimatePercent     = 1 // TABLESAMPLE SYSTEM percentage for a table with no estimate
	systemSchemaPattern = `n.nspname IN ('pg_catalog', 'information_schema') OR n.nspname LIKE 'pg\_toast%' OR n.nspname LIKE 'pg\_temp\_%'`
)

// relkinds names pg_class.relkind as a Table.Kind.
var relkinds = map[string]string{"r": "table", "p": "table", "v": "view", "m": "materialized view", "f": "foreign table"}

// tableKey names a table across databases.
func tableKey(db string, path []string, name string) string {
	return db + "\x00" + strings.Join(path, "\x00") + "\x00" + name
}

// Inventory implements datastore.Session: every database that allows
// connections, one connection to each in turn; in each, the schemas'
// tables, views and foreign tables with the server's estimates of rows
// (reltuples, else pg_stat_user_tables.n_live_tup) and bytes
// (pg_total_relation_size), and exact counts where a table is small.
// System schemas are counted, not listed. Foreign tables are named,
// never read: reading them makes the server connect elsewhere.
func (s *session) Inventory(ctx context.Context) (datastore.Inventory, error) {
	var inv datastore.Inventory
	res, err := s.q(ctx, s.mainDB(), fmt.Sprintf(`SELECT datname::text, datallowconn::text, datistemplate::text, has_database_privilege(oid, 'CONNECT')::text
  FROM pg_database ORDER BY datname LIMIT %d`, maxDatabases+1), maxDatabases+1, queryByteCap)
	if err != nil {
		return inv, fmt.Errorf("%s: listing databases: %w", s.svc.Endpoint, err)
	}
	s.held += res.held
	rows := res.rows
	if len(rows) > maxDatabases || res.truncated {
		rows = rows[:min(len(rows), maxDatabases)]
		inv.Truncate(fmt.Sprintf("databases listed: the first %d%s", len(rows), cutWhy(res)))
	}
	read := 0
	for _, r := range rows {
		if len(r) != 4 {
			continue
		}
		db := datastore.Database{Name: r[0], System: r[2] == "true"}
		switch {
		case r[1] != "true":
			// ALLOW_CONNECTIONS false (template0): listed, not opened.
			inv.Databases = append(inv.Databases, db)
			continue
		case r[3] != "true":
			inv.Databases = append(inv.Databases, db)
			inv.Truncation = append(inv.Truncation, fmt.Sprintf("database %q: CONNECT not granted to %q", r[0], s.svc.User))
			continue
		case read >= maxReadDatabases:
			inv.Databases = append(inv.Databases, db)
			continue
		}
		if ctx.Err() != nil {
			inv.Truncate(fmt.Sprintf("the time budget ran out after listing the tables of %d databases", read))
			break
		}
		read++
		if err := s.listTables(ctx, &db, &inv); err != nil {
			inv.Truncate(fmt.Sprintf("database %q: tables not listed: %v", r[0], err))
		}
		inv.Databases = append(inv.Databases, db)
	}
	if n := len(rows); read == maxReadDatabases && n > read {
		inv.Truncate(fmt.Sprintf("tables listed in the first %d of %d databases", read, n))
	}
	var toCount []*datastore.Table
	for di := range inv.Databases {
		for ti := range inv.Databases[di].Tables {
			t := &inv.Databases[di].Tables[ti]
			if sampleable(*t) && !s.unreadable[tableKey(t.Database, t.Path, t.Name)] && (t.Rows < 0 || t.Rows <= exactCountRows) {
				toCount = append(toCount, t)
			}
		}
	}
	s.countRows(ctx, &inv, toCount)
	return inv, nil
}

// listTables fills db's tables from its own catalog.
func (s *session) listTables(ctx context.Context, db *datastore.Database, inv *datastore.Inventory) error {
	q := fmt.Sprintf(`SELECT n.nspname::text, c.relname::text, c.relkind::text, c.reltuples::bigint::text, coalesce(st.n_live_tup, -1)::text,
  CASE WHEN c.relkind IN ('r', 'p', 'm') THEN pg_total_relation_size(c.oid)::text ELSE '-1' END,
  has_table_privilege(c.oid, 'SELECT')::text, coalesce(w.fdwname, am.amname, '')::text, (%s)::text,
  (c.relkind IN ('r', 'p') AND EXISTS (WITH RECURSIVE d(oid) AS (
     SELECT i.inhrelid FROM pg_inherits i WHERE i.inhparent = c.oid
     UNION SELECT i.inhrelid FROM pg_inherits i JOIN d ON i.inhparent = d.oid)
   SELECT FROM d JOIN pg_class fc ON fc.oid = d.oid WHERE fc.relkind = 'f'))::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid
  LEFT JOIN pg_am am ON am.oid = c.relam
  LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
  LEFT JOIN pg_foreign_server fs ON fs.oid = ft.ftserver
  LEFT JOIN pg_foreign_data_wrapper w ON w.oid = fs.srvfdw
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
ORDER BY 9, n.nspname, c.relname LIMIT %d`, systemSchemaPattern, maxTables+1)
	res, err := s.q(ctx, db.Name, q, maxTables+1, queryByteCap)
	if sqlState(err) == "42703" {
		// Before 12 there is no relam, before 10 no relispartition.
		q = strings.Replace(strings.Replace(q, "LEFT JOIN pg_am am ON am.oid = c.relam", "LEFT JOIN (SELECT NULL::name AS amname) am ON false", 1), "AND NOT c.relispartition", "", 1)
		res, err = s.q(ctx, db.Name, q, maxTables+1, queryByteCap)
	}
	if err != nil {
		return err
	}
	s.held += res.held
	rows := res.rows
	if len(rows) > maxTables || res.truncated {
		rows = rows[:min(len(rows), maxTables)]
		inv.Truncate(fmt.Sprintf("database %q: tables listed: the first %d%s", db.Name, len(rows), cutWhy(res)))
	}
	type key struct{ schema, name string }
	index := map[key]int{}
	for _, r := range rows {
		if len(r) != 10 {
			continue
		}
		db.TableCount++
		if r[8] == "true" {
			continue // a system schema's: counted, not listed
		}
		t := datastore.Table{Database: db.Name, Path: []string{r[0]}, Name: r[1], Kind: relkinds[r[2]], Engine: r[7], Rows: -1, Bytes: datastore.ParseCount(r[5])}
		if n := datastore.ParseCount(r[3]); n >= 0 {
			t.Rows = n
		} else if n := datastore.ParseCount(r[4]); n >= 0 {
			t.Rows = n
		}
		if r[2] == "v" {
			t.Engine = ""
		}
		if r[6] != "true" {
			s.unreadable[tableKey(db.Name, t.Path, t.Name)] = true
			t.Truncation = append(t.Truncation, fmt.Sprintf("listed, not readable: SELECT is not granted to %q", s.svc.User))
		}
		if r[9] == "true" {
			// Reading a parent reads its partitions and children, and a
			// foreign one makes the server connect elsewhere.
			s.unreadable[tableKey(db.Name, t.Path, t.Name)] = true
			t.Truncation = append(t.Truncation, "named, never read: some of its partitions or children are foreign tables (reading it makes the server connect elsewhere)")
		}
		if r[2] == "f" {
			t.Truncation = append(t.Truncation, "a foreign table: named, never read (reading it makes the server connect elsewhere)")
		}
		index[key{r[0], r[1]}] = len(db.Tables)
		db.Tables = append(db.Tables, t)
	}
	if len(db.Tables) == 0 {
		return nil
	}
	cq := fmt.Sprintf(`SELECT n.nspname::text, c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)::text
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped AND NOT (%s)
ORDER BY n.nspname, c.relname, a.attnum LIMIT %d`, systemSchemaPattern, maxColumns+1)
	cres, err := s.q(ctx, db.Name, cq, maxColumns+1, queryByteCap)
	if sqlState(err) == "42703" {
		cres, err = s.q(ctx, db.Name, strings.Replace(cq, "AND NOT c.relispartition", "", 1), maxColumns+1, queryByteCap)
	}
	if err != nil {
		return fmt.Errorf("listing columns: %w", err)
	}
	s.held += cres.held
	crows := cres.rows
	if len(crows) > maxColumns || cres.truncated {
		crows = crows[:min(len(crows), maxColumns)]
		inv.Truncate(fmt.Sprintf("database %q: columns listed: the first %d%s; tables past them are listed without columns and not sampled", db.Name, len(crows), cutWhy(cres)))
	}
	for _, r := range crows {
		if len(r) != 4 {
			continue
		}
		if i, ok := index[key{r[0], r[1]}]; ok {
			db.Tables[i].Columns = append(db.Tables[i].Columns, datastore.Column{Name: r[2], Type: r[3]})
		}
	}
	return nil
}

// countRows counts the rows of small tables exactly, each count stopping
// past exactCountRows; a table the server has no estimate for and that
// holds more is estimated from a TABLESAMPLE of its pages.
func (s *session) countRows(ctx context.Context, inv *datastore.Inventory, tables []*datastore.Table) {
	failed := 0
	for i, t := range tables {
		if ctx.Err() != nil {
			inv.Truncate(fmt.Sprintf("the time budget ran out after counting the rows of %d of %d small tables", i, len(tables)))
			return
		}
		if s.perTable >= maxPerTable {
			inv.Truncate(fmt.Sprintf("rows not counted in %d of %d small tables: at most %d per-table queries a session", len(tables)-i, len(tables), maxPerTable))
			return
		}
		if t.Bytes > exactCountMaxBytes && t.Rows >= 0 {
			continue
		}
		s.perTable++
		from := qualified(*t)
		res, err := s.q(ctx, t.Database, fmt.Sprintf("SELECT count(*)::text FROM (SELECT 1 FROM %s LIMIT %d) s", from, exactCountRows+1), 2, 4096)
		if err != nil || len(res.rows) != 1 || len(res.rows[0]) != 1 {
			failed++
			continue
		}
		if n := datastore.ParseCount(res.rows[0][0]); n >= 0 && n <= exactCountRows {
			t.Rows, t.RowsExact = n, true
			continue
		}
		if t.Rows > exactCountRows {
			continue
		}
		// More than exactCountRows and no estimate, or a stale one below
		// what was just counted (a bulk load before ANALYZE: reltuples 0) (never analysed, no
		// statistics): count a sample of its pages.
		s.perTable++
		res, err = s.q(ctx, t.Database, fmt.Sprintf("SELECT (count(*) * %d)::text FROM %s TABLESAMPLE SYSTEM (%d)", 100/estimatePercent, from, estimatePercent), 2, 4096)
		if err == nil && len(res.rows) == 1 && len(res.rows[0]) == 1 {
			if n := datastore.ParseCount(res.rows[0][0]); n > exactCountRows {
				t.Rows = n
				t.Truncation = append(t.Truncation, fmt.Sprintf("rows estimated from a %d%% TABLESAMPLE of the table's pages", estimatePercent))
			}
		}
	}
	if failed > 0 {
		inv.Truncate(fmt.Sprintf("rows not counted in %d small tables: the count query failed", failed))
	}
}

// sampleable reports whether a table's rows are read: tables and
// materialized views, whose data is on this server; not views (which can
// cost anything, or read foreign tables) nor foreign tables.
func sampleable(t datastore.Table) bool {
	return t.Kind == "table" || t.Kind == "materialized view"
}

// qualified is t's name in a query: schema and name, each quoted.
func qualified(t datastore.Table) string {
	parts := make([]string, 0, len(t.Path)+1)
	for _, p := range t.Path {
		parts = append(parts, quoteIdent(p))
	}
	return strings.Join(append(parts, quoteIdent(t.Name)), ".")
}

// quoteIdent quotes a name as quote_ident does: in double quotes, any
// double quote doubled. A name holding NUL cannot be a PostgreSQL name.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(strings.ReplaceAll(s, "\x00", ""), `"`, `""`) + `"`
}

// quoteString quotes a literal for a server with standard_conforming_strings
// on or off alike: E” with backslashes and quotes escaped.
func quoteString(s string) string {
	return "E'" + strings.NewReplacer(`\`, `\\`, "'", `''`, "\x00", "").Replace(s) + "'"
}

// cutWhy says why an answer was cut, when a cap on our side cut it.
func cutWhy(res *result) string {
	if res.truncated {
		return fmt.Sprintf(" (the answer went past the %d-row or %d-byte cap)", queryRowCap, queryByteCap)
	}
	return ""
}
