package lab

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// Snapshot is what a read-only assessment of s must leave as it was:
// databases, tables, parts, columns, changed settings, every user table's
// row count and the files under user_files, read as the lab's admin (never
// through the scanner's code). Two snapshots are equal when nothing changed.
func (s Server) Snapshot(ctx context.Context) (string, error) {
	var b strings.Builder
	for _, q := range []string{
		"SELECT database, name, engine, toString(metadata_modification_time) FROM system.tables WHERE database != 'system' ORDER BY database, name",
		"SELECT database, table, name, toString(rows), toString(bytes_on_disk), toString(modification_time), toString(active) FROM system.parts ORDER BY database, table, name",
		"SELECT database, table, name, type FROM system.columns WHERE database != 'system' ORDER BY database, table, name",
		"SELECT name FROM system.databases ORDER BY name",
		"SELECT name, value FROM system.settings WHERE changed ORDER BY name",
	} {
		res, err := s.Admin(ctx, q)
		if err != nil {
			return "", fmt.Errorf("snapshot of %s: %q: %w", s.Name, q, err)
		}
		b.WriteString(res)
	}
	// Log-family tables have no parts: count their rows (and every other
	// user table's, which MergeTree answers from metadata).
	list, err := s.Admin(ctx, "SELECT database, name FROM system.tables WHERE database NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') AND engine NOT LIKE '%View' ORDER BY database, name FORMAT JSONEachRow")
	if err != nil {
		return "", fmt.Errorf("snapshot of %s: tables: %w", s.Name, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		if line == "" {
			continue
		}
		var row struct{ Database, Name string }
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			return "", fmt.Errorf("snapshot of %s: table list %q: %w", s.Name, line, err)
		}
		res, err := s.Admin(ctx, "SELECT count() FROM "+quoteIdent(row.Database)+"."+quoteIdent(row.Name))
		if err != nil {
			return "", fmt.Errorf("snapshot of %s: count %q.%q: %w", s.Name, row.Database, row.Name, err)
		}
		fmt.Fprintf(&b, "%q.%q %s", row.Database, row.Name, res)
	}
	files, _ := filepath.Glob(filepath.Join(s.dir(), "user_files", "*"))
	fmt.Fprintf(&b, "user_files: %q\n", files)
	return b.String(), nil
}

// Snapshot is what a read-only assessment of s must leave as it was: every
// database, role and setting, the schema and extensions of the seeded
// database and every one of its tables' exact row count, read as the
// lab's admin.
func (s PGServer) Snapshot(ctx context.Context) (string, error) {
	var b strings.Builder
	for _, q := range []struct{ db, sql string }{
		{"postgres", "SELECT datname FROM pg_database ORDER BY 1"},
		{"postgres", "SELECT rolname, rolsuper, rolcreaterole, rolcanlogin FROM pg_roles ORDER BY 1"},
		{"postgres", "SELECT name, setting FROM pg_settings WHERE name NOT IN ('transaction_read_only', 'default_transaction_read_only') ORDER BY 1"},
		{SQLDatabase, "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2, 3"},
		{SQLDatabase, "SELECT extname FROM pg_extension ORDER BY 1"},
		{SQLDatabase, "SELECT c.relname, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1"},
	} {
		out, err := s.Admin(ctx, q.db, q.sql)
		if err != nil {
			return "", fmt.Errorf("snapshot of %s: %w", s.Name, err)
		}
		fmt.Fprintf(&b, "-- %s\n%s", q.sql, out)
	}
	return b.String(), nil
}

// Snapshot is what a read-only assessment of s must leave as it was: the
// databases, accounts and their privileges, the global variables, the
// schema of every user database and each of its tables' exact row count
// and last update, read as the lab's admin through the server's socket.
func (s MariaDBServer) Snapshot(ctx context.Context) (string, error) {
	const user = "TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"
	var b strings.Builder
	for _, q := range []string{
		"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1",
		"SELECT * FROM mysql.global_priv ORDER BY User, Host",
		"SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES ORDER BY 1",
		"SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE " + user + " ORDER BY 1, 2, 3",
		"SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, ENGINE, CREATE_TIME, UPDATE_TIME FROM information_schema.TABLES WHERE " + user + " ORDER BY 1, 2",
	} {
		out, err := s.Admin(ctx, q)
		if err != nil {
			return "", fmt.Errorf("snapshot of %s: %w", s.Name, err)
		}
		fmt.Fprintf(&b, "-- %s\n%s", q, out)
	}
	// The client's batch output escapes tabs, newlines and backslashes in
	// names; HEX() gives them back exactly.
	list, err := s.Admin(ctx, "SELECT HEX(TABLE_SCHEMA), HEX(TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND "+user+" ORDER BY 1, 2")
	if err != nil {
		return "", fmt.Errorf("snapshot of %s: tables: %w", s.Name, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 2 {
			continue
		}
		db, err1 := hex.DecodeString(f[0])
		name, err2 := hex.DecodeString(f[1])
		if err := errors.Join(err1, err2); err != nil {
			return "", fmt.Errorf("snapshot of %s: table list %q: %w", s.Name, line, err)
		}
		out, err := s.Admin(ctx, "SELECT COUNT(*) FROM "+myIdent(string(db))+"."+myIdent(string(name)))
		if err != nil {
			return "", fmt.Errorf("snapshot of %s: count %q.%q: %w", s.Name, db, name, err)
		}
		fmt.Fprintf(&b, "%q.%q %s", db, name, out)
	}
	return b.String(), nil
}
