package mongodb

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// capabilityDef is one thing a client may do on MongoDB, the privilege
// actions that grant it, and how to take it away.
type capabilityDef struct {
	id, summary, remediation string
	impact                   datastore.Impact
	actions                  []string
	// commands are the commands that exercise it: a server that lists
	// none of them (FerretDB has no shutdown) cannot be made to.
	commands []string
}

var capabilityDefs = []capabilityDef{
	{"write", "write: insert, update, delete and drop any collection (the ransom wipers' route)",
		"Enable access control (security.authorization: enabled) and grant applications the read or readWrite role on their own database only",
		datastore.ImpactWrite, []string{"insert", "update", "remove", "dropCollection", "dropDatabase", "createCollection", "createIndex"},
		[]string{"insert", "update", "delete", "drop", "dropDatabase"}},
	{"userAdmin", "userAdmin: create users and grant roles, including root",
		"Enable access control and keep userAdmin/userAdminAnyDatabase and root to an administrator who logs in from trusted hosts only",
		datastore.ImpactAdminister, []string{"createUser", "grantRole", "grantRolesToUser", "changePassword", "changeOwnPassword"},
		[]string{"createUser", "updateUser", "grantRolesToUser"}},
	{"serverAdmin", "serverAdmin: change server parameters, shut the server down, reconfigure replication",
		"Enable access control; only clusterAdmin holders should run setParameter, shutdown and replSetReconfig",
		datastore.ImpactAdminister, []string{"setParameter", "shutdown", "replSetReconfig", "applicationMessage"},
		[]string{"setParameter", "shutdown", "replSetReconfig"}},
}

// Privileges implements datastore.Session, from connectionStatus: the
// users, roles and privileges of this connection, as the server reports
// them. A connection that authenticated as nobody and was still answered
// listDatabases is on a server whose access control is off: every client
// holds every action there, which is what mongod's documentation says of
// authorization disabled. Nothing is tried.
func (s *Session) Privileges(ctx context.Context) (datastore.Privileges, error) {
	mark := s.mem.mark()
	defer s.mem.reset(mark)
	var p datastore.Privileges
	st, err := s.cmd(ctx, "admin", doc{{"connectionStatus", int32(1)}, {"showPrivileges", true}}, 4<<20)
	if err != nil {
		for _, c := range capabilityDefs {
			p.Capabilities = append(p.Capabilities, capability(c, datastore.Unknown, "connectionStatus refused: "+err.Error()))
		}
		p.Readonly = p.ReadonlyByCapabilities()
		return p, fmt.Errorf("%s: connectionStatus: %w", s.svc.Endpoint, err)
	}
	info := st.Sub("authInfo")
	var users, roles []string
	for _, u := range info.Sub("authenticatedUsers") {
		if d := u.Val.Doc; d != nil {
			users = append(users, clean(Document(d).Str("user"), 64)+"@"+clean(Document(d).Str("db"), 64))
		}
	}
	for _, r := range info.Sub("authenticatedUserRoles") {
		if d := u2d(r.Val); d != nil {
			roles = append(roles, clean(d.Str("role"), 64)+"@"+clean(d.Str("db"), 64))
		}
	}
	actions := map[string]bool{}
	for _, pr := range info.Sub("authenticatedUserPrivileges") {
		if d := u2d(pr.Val); d != nil {
			for _, a := range d.Sub("actions") {
				if a.Val.Type == 0x02 {
					actions[a.Val.Str] = true
				}
			}
		}
	}
	p.Details = map[string]any{"authenticated_users": orEmpty(users), "roles": orEmpty(roles)}
	if len(users) == 0 {
		// No one logged in, yet listDatabases answered (Auth none): access
		// control is off.
		ev := "connectionStatus: no authenticated user, no role; listDatabases answered anyway: access control is off, so every client holds every action"
		p.Evidence = append(p.Evidence, ev)
		cmds, lerr := s.commands(ctx)
		for _, c := range capabilityDefs {
			var has []string
			for _, name := range c.commands {
				if cmds[strings.ToLower(name)] {
					has = append(has, name)
				}
			}
			switch {
			case lerr != nil:
				p.Capabilities = append(p.Capabilities, capability(c, datastore.Yes, ev))
			case len(has) == 0:
				p.Capabilities = append(p.Capabilities, capability(c, datastore.No, "listCommands: the server implements none of "+strings.Join(c.commands, ", ")))
			default:
				p.Capabilities = append(p.Capabilities, capability(c, datastore.Yes, ev+"; listCommands has "+strings.Join(has, ", ")))
			}
		}
		p.Readonly = p.ReadonlyByCapabilities()
		return p, nil
	}
	p.Evidence = append(p.Evidence, "connectionStatus: authenticated as "+strings.Join(users, ", ")+" with roles "+strings.Join(roles, ", "))
	for _, c := range capabilityDefs {
		var held []string
		for _, a := range c.actions {
			if actions[a] {
				held = append(held, a)
			}
		}
		v, ev := datastore.No, "authenticatedUserPrivileges grant none of "+strings.Join(c.actions, ", ")
		if len(held) > 0 {
			v, ev = datastore.Yes, "authenticatedUserPrivileges grant "+strings.Join(held, ", ")
		} else if len(actions) == 0 {
			v, ev = datastore.Unknown, "connectionStatus listed no privileges"
		}
		p.Capabilities = append(p.Capabilities, capability(c, v, ev))
	}
	slices.SortStableFunc(p.Capabilities, func(a, b datastore.Capability) int { return strings.Compare(a.ID, b.ID) })
	p.Readonly = p.ReadonlyByCapabilities()
	return p, nil
}

// commands are the names listCommands reports (lower case): what the
// server implements, read, never run.
func (s *Session) commands(ctx context.Context) (map[string]bool, error) {
	mark := s.mem.mark()
	defer s.mem.reset(mark)
	d, err := s.cmd(ctx, "admin", doc{{"listCommands", int32(1)}}, 8<<20)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range d.Sub("commands") {
		out[strings.ToLower(e.Key)] = true
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("listCommands listed no command")
	}
	return out, nil
}

func u2d(v Value) Document {
	if v.Type != 0x03 {
		return nil
	}
	return v.Doc
}

func orEmpty(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

func capability(c capabilityDef, v datastore.Verdict, evidence string) datastore.Capability {
	return datastore.Capability{ID: c.id, Granted: v, Impact: c.impact, Summary: c.summary, Evidence: evidence, Remediation: c.remediation}
}
