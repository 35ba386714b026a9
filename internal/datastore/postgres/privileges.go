package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// privilegeQuery reads (on 9.5 and later: the predefined roles of 11 are
// looked up before they are asked about), in one row, every role attribute, role membership
// and grant the capabilities are judged from. Nothing is tried: a
// function's EXECUTE grant is read, never the function run. Functions and
// extensions that may be absent are looked up by name first, so a missing
// one reads as false, not as an error.
const privilegeQuery = `SELECT (r.rolsuper OR EXISTS (SELECT FROM pg_roles s WHERE s.rolsuper AND s.oid <> r.oid AND pg_has_role(current_user, s.oid, 'MEMBER')))::text, r.rolcreaterole::text, r.rolcreatedb::text, r.rolreplication::text, r.rolbypassrls::text,
  (CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = 'pg_read_server_files') THEN pg_has_role(current_user, 'pg_read_server_files', 'MEMBER') ELSE false END)::text,
  (CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = 'pg_write_server_files') THEN pg_has_role(current_user, 'pg_write_server_files', 'MEMBER') ELSE false END)::text,
  (CASE WHEN EXISTS (SELECT FROM pg_roles WHERE rolname = 'pg_execute_server_program') THEN pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER') ELSE false END)::text,
  (SELECT coalesce(bool_or(has_function_privilege(p.oid, 'EXECUTE')), false) FROM pg_proc p
     WHERE p.proname IN ('pg_read_file', 'pg_read_binary_file', 'lo_import') AND p.pronamespace = 'pg_catalog'::regnamespace)::text,
  (SELECT coalesce(string_agg(n.nspname, ',' ORDER BY n.nspname), '') FROM pg_namespace n
     WHERE has_schema_privilege(n.oid, 'CREATE') AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'),
  has_database_privilege(current_database(), 'CREATE')::text,
  (SELECT coalesce(bool_or(has_function_privilege(p.oid, 'EXECUTE')), false) FROM pg_proc p WHERE p.proname LIKE 'dblink%')::text,
  (SELECT coalesce(bool_or(has_foreign_data_wrapper_privilege(w.oid, 'USAGE')), false) FROM pg_foreign_data_wrapper w WHERE w.fdwname = 'postgres_fdw')::text,
  (SELECT count(*) FROM pg_foreign_server)::text,
  (SELECT coalesce(string_agg(extname, ',' ORDER BY extname), '') FROM pg_extension WHERE extname IN ('dblink', 'postgres_fdw', 'file_fdw', 'adminpack'))::text,
  current_user::text,
  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
       AND has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE'))::text,
  current_database()::text
FROM pg_roles r WHERE r.rolname = current_user`

// Privileges implements datastore.Session. Every capability is judged
// from role attributes and grants; one the catalog cannot settle stays
// Unknown with the reason.
func (s *session) Privileges(ctx context.Context) (datastore.Privileges, error) {
	var p datastore.Privileges
	res, err := s.q(ctx, s.mainDB(), privilegeQuery, 2, 1<<20)
	var row []string
	switch {
	case err != nil:
		p.Evidence = append(p.Evidence, "reading roles and grants failed: "+err.Error())
	case len(res.rows) != 1 || len(res.rows[0]) != 18:
		p.Evidence = append(p.Evidence, "the roles and grants query was answered without its one row")
	default:
		row = res.rows[0]
	}
	caps := judge(row)
	if row == nil {
		why := p.Evidence[0]
		for i := range caps {
			caps[i].Granted, caps[i].Evidence = datastore.Unknown, why
		}
	} else {
		p.Evidence = append(p.Evidence, fmt.Sprintf("user %q: superuser=%s createrole=%s createdb=%s replication=%s bypassrls=%s",
			printable(row[15], 64), row[0], row[1], row[2], row[3], row[4]))
		if row[14] != "" {
			p.Evidence = append(p.Evidence, "extensions installed: "+printable(row[14], 200))
		}
	}
	p.Capabilities = caps
	p.Readonly = p.ReadonlyByCapabilities()
	return p, nil
}

// judge turns the privilege row into capabilities; a nil row leaves every
// verdict for the caller to mark Unknown.
func judge(row []string) []datastore.Capability {
	t := func(i int) datastore.Verdict {
		if row == nil {
			return datastore.Unknown
		}
		switch row[i] {
		case "true":
			return datastore.Yes
		case "false":
			return datastore.No
		}
		return datastore.Unknown
	}
	or := func(vs ...datastore.Verdict) datastore.Verdict {
		out := datastore.No
		for _, v := range vs {
			if v == datastore.Yes {
				return datastore.Yes
			}
			if v == datastore.Unknown {
				out = datastore.Unknown
			}
		}
		return out
	}
	super := t(0)
	schemas := ""
	if row != nil {
		schemas = row[9]
	}
	createSchema := datastore.VerdictOf(schemas != "")
	if row == nil {
		createSchema = datastore.Unknown
	}
	foreignServers := row != nil && row[13] != "0" && row[13] != ""
	ev := func(s string) string { return s }
	caps := []datastore.Capability{
		{ID: "superuser", Granted: super, Impact: datastore.ImpactRunCode,
			Summary:     "superuser: COPY … TO/FROM PROGRAM runs commands on the server, and every file and table is readable",
			Evidence:    ev("pg_roles.rolsuper of the current user, or membership of a superuser role (SET ROLE)"),
			Remediation: "ALTER ROLE <user> NOSUPERUSER; connect applications as a role with only the grants they need"},
		{ID: "pg_execute_server_program", Granted: or(super, t(7)), Impact: datastore.ImpactRunCode,
			Summary:     "member of pg_execute_server_program: COPY … TO/FROM PROGRAM runs commands on the server",
			Evidence:    "pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER')",
			Remediation: "REVOKE pg_execute_server_program FROM <user>"},
		{ID: "pg_read_server_files", Granted: or(super, t(5), t(8)), Impact: datastore.ImpactReadFiles,
			Summary:     "the server's own files can be read (COPY … FROM a file, pg_read_file(), lo_import())",
			Evidence:    "pg_has_role(current_user, 'pg_read_server_files', 'MEMBER'), EXECUTE on pg_read_file/pg_read_binary_file/lo_import",
			Remediation: "REVOKE pg_read_server_files FROM <user>; REVOKE EXECUTE ON FUNCTION pg_read_file(text) FROM <user>"},
		{ID: "pg_write_server_files", Granted: or(super, t(6)), Impact: datastore.ImpactWrite,
			Summary:     "files can be written on the server (COPY … TO a file)",
			Evidence:    "pg_has_role(current_user, 'pg_write_server_files', 'MEMBER')",
			Remediation: "REVOKE pg_write_server_files FROM <user>"},
		{ID: "create", Granted: or(super, createSchema, t(10)), Impact: datastore.ImpactWrite,
			Summary:     "tables can be created (CREATE on a schema or on the database)",
			Evidence:    "has_schema_privilege(…, 'CREATE'), has_database_privilege(current_database(), 'CREATE')" + schemaList(schemas),
			Remediation: "REVOKE CREATE ON SCHEMA public FROM PUBLIC; REVOKE CREATE ON DATABASE <db> FROM PUBLIC"},
		{ID: "createrole", Granted: or(super, t(1)), Impact: datastore.ImpactAdminister,
			Summary:     "roles can be created and granted (CREATEROLE)",
			Evidence:    "pg_roles.rolcreaterole",
			Remediation: "ALTER ROLE <user> NOCREATEROLE"},
		{ID: "dblink", Granted: or(t(11), t(12)), Impact: datastore.ImpactReachHosts,
			Summary:     "the server can be made to connect to other hosts (dblink or postgres_fdw usable)",
			Evidence:    "EXECUTE on dblink functions, USAGE on the postgres_fdw wrapper",
			Remediation: "DROP EXTENSION dblink; REVOKE USAGE ON FOREIGN DATA WRAPPER postgres_fdw FROM <user>"},
	}
	writable := datastore.Unknown
	db := ""
	if row != nil {
		writable = datastore.VerdictOf(row[16] != "0")
		db = row[17]
	}
	caps = append(caps, datastore.Capability{ID: "table_write", Granted: or(super, writable), Impact: datastore.ImpactWrite,
		Summary:     "rows can be inserted, changed or deleted (INSERT, UPDATE, DELETE or TRUNCATE on a table)",
		Evidence:    fmt.Sprintf("has_table_privilege(…, 'INSERT, UPDATE, DELETE, TRUNCATE') over the tables of database %q", printable(db, 64)),
		Remediation: "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA <schema> FROM <user>"})
	if foreignServers {
		caps[6].Evidence += fmt.Sprintf("; %s foreign servers defined", row[13])
	}
	return caps
}

func schemaList(s string) string {
	if s == "" {
		return ""
	}
	names := strings.Split(s, ",")
	if len(names) > 5 {
		names = append(names[:5], "…")
	}
	return "; CREATE granted on schemas " + printable(strings.Join(names, ", "), 300)
}
