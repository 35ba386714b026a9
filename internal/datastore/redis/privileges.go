package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/leakhound/leakhound/internal/datastore"
)

// capability is one thing a Redis user may do that is more than reading,
// and the command that does it. Whether it is granted is judged from what
// the server reports: the command exists (COMMAND INFO: rename-command
// can take it away), the user may run it (ACL DRYRUN, which checks without
// running; before Redis 6 every client in may run every command), and the
// settings that fence it (Redis 7's enable-protected-configs and
// enable-module-command, read with CONFIG GET). Never by running it.
type capability struct {
	id      string
	impact  datastore.Impact
	summary string
	fix     string
	dryrun  []string // the command as ACL DRYRUN checks it
	// fence is the setting that must also allow it from Redis 7 on ("" for none).
	fence string
}

var capabilities = []capability{
	{id: "write", impact: datastore.ImpactWrite,
		summary: "anyone may write and delete keys (SET, DEL, FLUSHALL): the data can be changed or wiped, as ransom wipers do",
		fix:     "Give clients an ACL user with read commands only (ACL SETUSER app on >… ~* -@all +@read), or require a password (requirepass)",
		dryrun:  []string{"SET", "leakhound:probe", "x"}},
	{id: "CONFIG SET", impact: datastore.ImpactAdminister,
		summary: "CONFIG SET changes any setting: a stranger can set a password and lock the owner out, or turn protected mode off",
		fix:     "Deny CONFIG to clients (ACL SETUSER … -@admin, or rename-command CONFIG \"\")",
		dryrun:  []string{"CONFIG", "SET", "maxmemory", "0"}},
	{id: "CONFIG SET dir", impact: datastore.ImpactRunCode,
		summary: "CONFIG SET dir and dbfilename then SAVE write a file wherever the server may (an SSH authorized_keys, a cron job): the classic route to running code",
		fix:     "Keep enable-protected-configs no (Redis 7's default), deny CONFIG to clients, and run redis-server as an unprivileged user",
		dryrun:  []string{"CONFIG", "SET", "dir", "."}, fence: "enable-protected-configs"},
	{id: "MODULE LOAD", impact: datastore.ImpactRunCode,
		summary: "MODULE LOAD loads a shared library into the server: any code runs as the server",
		fix:     "Keep enable-module-command no (Redis 7's default) and deny MODULE to clients (ACL … -module)",
		dryrun:  []string{"MODULE", "LOAD", "/nonexistent/leakhound.so"}, fence: "enable-module-command"},
	{id: "REPLICAOF", impact: datastore.ImpactReachHosts,
		summary: "REPLICAOF makes the server connect to a host of the caller's choosing and replace its data with that host's (the rogue-master route to loading a module)",
		fix:     "Deny REPLICAOF and SLAVEOF to clients (ACL … -replicaof -slaveof, or rename-command)",
		dryrun:  []string{"REPLICAOF", "NO", "ONE"}},
}

// Privileges implements datastore.Session.
func (s *Session) Privileges(ctx context.Context) (datastore.Privileges, error) {
	var p datastore.Privileges
	major := majorVersion(s.svc.Version)
	user := "default"
	acl := true
	who, err := s.one(ctx, "ACL", "WHOAMI")
	switch {
	case err == nil && who.kind == '$' && !who.null:
		user = clip(who.str, 256)
		p.Evidence = append(p.Evidence, fmt.Sprintf("ACL WHOAMI: %q", user))
	case isUnknownCommand(err):
		acl = false
		p.Evidence = append(p.Evidence, "no ACL (before Redis 6): every client let in may run every command that exists")
	case err != nil && ctx.Err() != nil:
		return p, err
	case err != nil:
		p.Evidence = append(p.Evidence, "ACL WHOAMI: "+err.Error())
	}
	rules := ""
	if acl {
		if r, err := s.one(ctx, "ACL", "GETUSER", user); err == nil && r.kind == '*' {
			p.Evidence = append(p.Evidence, "ACL GETUSER "+user+": "+describeUser(r))
			rules = userField(r, "commands")
		} else if err != nil {
			p.Evidence = append(p.Evidence, "ACL GETUSER: "+err.Error())
		}
	}
	// Which commands exist: COMMAND INFO answers null for a command renamed
	// away or absent.
	names := []string{"COMMAND", "INFO"}
	for _, c := range capabilities {
		names = append(names, c.dryrun[0])
	}
	exists := map[string]datastore.Verdict{}
	cats := map[string][]string{} // each command's ACL categories (Redis 6+: COMMAND INFO's 7th element)
	if r, err := s.one(ctx, names...); err == nil && r.kind == '*' && len(r.arr) == len(names)-2 {
		for i, v := range r.arr {
			exists[names[i+2]] = datastore.VerdictOf(!v.null && v.kind == '*')
			if len(v.arr) >= 7 {
				for _, c := range v.arr[6].arr {
					cats[names[i+2]] = append(cats[names[i+2]], strings.ToLower(c.str))
				}
			}
		}
	} else if err != nil && ctx.Err() != nil {
		return p, err
	}
	// The settings that fence some of them (Redis 7).
	fences := map[string]string{}
	if major >= 7 {
		if r, err := s.one(ctx, "CONFIG", "GET", "enable-protected-configs", "enable-module-command"); err == nil && r.kind == '*' {
			for i := 0; i+1 < len(r.arr); i += 2 {
				fences[r.arr[i].str] = r.arr[i+1].str
			}
			p.Evidence = append(p.Evidence, fmt.Sprintf("enable-protected-configs %q, enable-module-command %q", fences["enable-protected-configs"], fences["enable-module-command"]))
		} else if err != nil {
			p.Evidence = append(p.Evidence, "CONFIG GET: "+err.Error())
		}
	}
	for _, c := range capabilities {
		capa := datastore.Capability{ID: c.id, Impact: c.impact, Summary: c.summary, Remediation: c.fix}
		capa.Granted, capa.Evidence = s.judge(ctx, c, user, acl, major, exists[c.dryrun[0]], fences, rules, cats[c.dryrun[0]])
		if ctx.Err() != nil {
			return p, ctx.Err()
		}
		p.Capabilities = append(p.Capabilities, capa)
	}
	p.Readonly = p.ReadonlyByCapabilities()
	p.Details = map[string]any{"user": user}
	return p, nil
}

// judge settles one capability from what the server reported.
func (s *Session) judge(ctx context.Context, c capability, user string, acl bool, major int, exists datastore.Verdict, fences map[string]string, rules string, cats []string) (datastore.Verdict, string) {
	if exists == datastore.No {
		return datastore.No, fmt.Sprintf("COMMAND INFO %s: no such command (renamed or removed)", c.dryrun[0])
	}
	allowed, why := datastore.Unknown, ""
	if !acl {
		allowed, why = exists, "no ACL: every client may run every command"
		if exists == datastore.Unknown {
			why = "no ACL, and COMMAND INFO did not say whether " + c.dryrun[0] + " exists"
		}
	} else {
		args := append([]string{"ACL", "DRYRUN", user}, c.dryrun...)
		r, err := s.one(ctx, args...)
		switch {
		case err == nil && r.kind == '+' && r.str == "OK":
			allowed, why = datastore.Yes, fmt.Sprintf("ACL DRYRUN %s %s: OK", user, strings.Join(c.dryrun[:min(2, len(c.dryrun))], " "))
		case err == nil && r.kind == '$' && !r.null:
			allowed, why = datastore.No, "ACL DRYRUN: "+clip(r.str, 200)
		case isUnknownCommand(err) || (err != nil && strings.Contains(strings.ToLower(err.Error()), "unknown subcommand")):
			// Redis 6: no DRYRUN; ACL GETUSER's rules, evaluated as
			// Redis does, over the command's categories.
			if v, ok := aclAllows(rules, c.dryrun, cats); ok {
				allowed, why = datastore.VerdictOf(v), fmt.Sprintf("ACL GETUSER %s: commands %q", user, clip(rules, 200))
			} else {
				why = "ACL DRYRUN is not known before Redis 7, and ACL GETUSER's rules could not be evaluated"
			}
		case err != nil:
			why = "ACL DRYRUN: " + err.Error()
		default:
			why = fmt.Sprintf("ACL DRYRUN: an unexpected %q reply", r.kind)
		}
	}
	if allowed != datastore.Yes || c.fence == "" || (major > 0 && major < 7) {
		return allowed, why
	}
	switch v := fences[c.fence]; v {
	case "yes":
		return datastore.Yes, why + "; " + c.fence + " yes"
	case "no":
		return datastore.No, why + ", but " + c.fence + " is no: the server refuses it to every client"
	case "local":
		return datastore.No, why + ", but " + c.fence + " is local: only clients on the server's own loopback may"
	case "":
		return datastore.Unknown, why + "; " + c.fence + " could not be read"
	default:
		return datastore.Unknown, fmt.Sprintf("%s; %s is %q", why, c.fence, clip(v, 40))
	}
}

func isUnknownCommand(err error) bool {
	e, ok := err.(*replyError)
	return ok && e.code() == "ERR" && strings.Contains(strings.ToLower(e.msg), "unknown command")
}

// describeUser summarises ACL GETUSER's reply: flags and command rules.
func describeUser(r reply) string {
	var parts []string
	for i := 0; i+1 < len(r.arr) && i < 40; i += 2 {
		k, v := r.arr[i].str, r.arr[i+1]
		switch k {
		case "flags":
			var fl []string
			for _, f := range v.arr {
				fl = append(fl, clip(f.str, 40))
			}
			parts = append(parts, "flags "+strings.Join(fl, " "))
		case "commands", "keys":
			parts = append(parts, k+" "+clip(v.str, 200))
		}
	}
	return strings.Join(parts, "; ")
}

// majorVersion is the major version of "7.0.15", 0 when unknown.
func majorVersion(v string) int {
	m, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(m)
	if err != nil {
		return 0
	}
	return n
}

// userField is one field of ACL GETUSER's reply, as text.
func userField(r reply, name string) string {
	for i := 0; i+1 < len(r.arr); i += 2 {
		if r.arr[i].str == name && r.arr[i+1].kind != '*' {
			return r.arr[i+1].str
		}
	}
	return ""
}

// aclAllows evaluates a user's command rules (ACL GETUSER's "commands":
// "+@all -config", "-@all +get +@read") for cmd, whose ACL categories are
// cats, as Redis 6 does: rules apply in order, the last that names the
// command, its subcommand or one of its categories wins. ok is false when
// a rule cannot be read or the categories are unknown and a category rule
// would decide.
func aclAllows(rules string, cmd []string, cats []string) (allowed, ok bool) {
	if strings.TrimSpace(rules) == "" {
		return false, false
	}
	name := strings.ToLower(cmd[0])
	sub := ""
	if len(cmd) > 1 {
		sub = name + "|" + strings.ToLower(cmd[1])
	}
	for _, rule := range strings.Fields(strings.ToLower(rules)) {
		switch rule {
		case "allcommands":
			rule = "+@all"
		case "nocommands":
			rule = "-@all"
		}
		if len(rule) < 2 || (rule[0] != '+' && rule[0] != '-') {
			return false, false
		}
		on, what := rule[0] == '+', rule[1:]
		switch {
		case what == "@all":
			allowed = on
		case strings.HasPrefix(what, "@"):
			if cats == nil {
				return false, false
			}
			for _, c := range cats {
				if strings.TrimPrefix(c, "@") == what[1:] {
					allowed = on
				}
			}
		case what == name || (sub != "" && what == sub):
			allowed = on
		}
	}
	return allowed, true
}
