package redis

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestRespRead(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // the reply as describe writes it, or the error's text
	}{
		{"+PONG\r\n", "+PONG"},
		{"-NOAUTH Authentication required.\r\n", "-NOAUTH Authentication required."},
		{":42\r\n", ":42"},
		{"$5\r\nhello\r\n", "$hello"},
		{"$-1\r\n", "null"},
		{"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", "[$a [:1]]"},
		{"$70000\r\n" + strings.Repeat("x", 70000) + "\r\n", "$cut 65536 of 70000"},
		{"*100001\r\n", "error: an array of 100001 elements"},
		{"$40000000\r\n", "error: a bulk string of 40000000 bytes"},
		{"+" + strings.Repeat("a", 70000) + "\r\n", "error: a line longer than"},
		{strings.Repeat("*1\r\n", 9) + ":1\r\n", "error: arrays nested deeper than 8"},
		{"+no crlf\n", "error: a line not ended by CRLF"},
		{"$3\r\nabcXY", "error: a bulk string not ended by CRLF"},
		{"?what\r\n", "error: a reply starting"},
	} {
		r := newRespReader(strings.NewReader(c.in))
		v, err := r.read(defaultCaps)
		got := describe(v)
		if err != nil {
			got = "error: " + err.Error()
		}
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("read(%.40q) = %.80s, want %s", c.in, got, c.want)
		}
	}
}

func describe(v reply) string {
	switch {
	case v.null:
		return "null"
	case v.kind == '$' && v.cut:
		return "$cut " + strconv.Itoa(len(v.str)) + " of " + strconv.FormatInt(v.size, 10)
	case v.kind == '*':
		var parts []string
		for _, a := range v.arr {
			parts = append(parts, describe(a))
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return string(v.kind) + v.text()
}

func TestAppendCommand(t *testing.T) {
	got := string(appendCommand(nil, "SCAN", "0", "MATCH", "a\r\n*"))
	want := "*4\r\n$4\r\nSCAN\r\n$1\r\n0\r\n$5\r\nMATCH\r\n$4\r\na\r\n*\r\n"
	if got != want {
		t.Errorf("appendCommand = %q, want %q", got, want)
	}
}

func TestPattern(t *testing.T) {
	for _, c := range []struct{ key, want string }{
		{"session:9f86d081884c7d659a2feaa0c55ad015", "session:*"},
		{"cache:prompt:2fd4e1c67a2d28fced849ee1bb76e7391b93eb12", "cache:prompt:*"},
		{"user:42", "user:*"},
		{"user:42:profile", "user:*:profile"},
		{"config:openai", "config:openai"},
		{"READ_ME", "READ_ME"},
		{"12345", "*"},
		{"sess/550e8400-e29b-41d4-a716-446655440000", "sess/*"},
		{"token:AbCdEfGh1234XyZ", "token:*"},
		{"hostile:\x1b[31m", "hostile:\x1b[31m"},
		{"queue:email", "queue:email"},
	} {
		if got := pattern(c.key); got != c.want {
			t.Errorf("pattern(%q) = %q, want %q", c.key, got, c.want)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct{ p, want string }{
		{"session:*", "session:*"},
		{`glob:[a-z]*?\`, `glob:\[a-z\]\*\?\\`},
		{"user:*:profile", "user:*:profile"},
	} {
		if got := glob(c.p); got != c.want {
			t.Errorf("glob(%q) = %q, want %q", c.p, got, c.want)
		}
	}
}

// FuzzRespRead: whatever a peer sends, the reader returns a reply within
// its caps or an error, and never panics.
func FuzzRespRead(f *testing.F) {
	for _, s := range []string{"+PONG\r\n", "*2\r\n$1\r\n0\r\n*1\r\n$3\r\nkey\r\n", "$-1\r\n", ":1\r\n", "-ERR x\r\n", "*-1\r\n", "$3\r\nab"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := caps{line: 256, bulk: 64, elems: 64, depth: 4, wire: 4096}
		held := int64(0)
		c.charge = func(n int64) error {
			held += n
			if held > 1<<20 {
				return errMemoryBudget
			}
			return nil
		}
		r := newRespReader(bytes.NewReader(b))
		for range 4 {
			v, err := r.read(c)
			if err != nil {
				if errors.Is(err, errMemoryBudget) {
					t.Fatalf("charged %d bytes for %d bytes of input", held, len(b))
				}
				return
			}
			checkCaps(t, v, c, 0)
		}
	})
}

func checkCaps(t *testing.T, v reply, c caps, depth int) {
	if depth > c.depth {
		t.Fatalf("a reply nested %d deep, cap %d", depth, c.depth)
	}
	if len(v.str) > max(c.bulk, c.line) {
		t.Fatalf("a value of %d bytes kept, caps %d/%d", len(v.str), c.bulk, c.line)
	}
	if len(v.arr) > c.elems {
		t.Fatalf("an array of %d elements, cap %d", len(v.arr), c.elems)
	}
	for _, a := range v.arr {
		checkCaps(t, a, c, depth+1)
	}
}

// FuzzPattern: a key's pattern matches the key as SCAN MATCH reads it, for
// any key.
func FuzzPattern(f *testing.F) {
	for _, s := range []string{"session:abc123def456", "a:*:b", `x[\]`, "user:42", "\x00:\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		p := pattern(key)
		if pattern(key) != p {
			t.Fatalf("pattern(%q) is not stable", key)
		}
		if !globMatch(glob(p), key) {
			t.Fatalf("glob(pattern(%q)) = %q does not match the key", key, glob(p))
		}
	})
}

// globMatch is Redis's stringmatchlen for the subset glob writes: '*',
// and backslash escapes.
func globMatch(g, s string) bool {
	if g == "" {
		return s == ""
	}
	switch g[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if globMatch(g[1:], s[i:]) {
				return true
			}
		}
		return false
	case '\\':
		if len(g) > 1 {
			return s != "" && s[0] == g[1] && globMatch(g[2:], s[1:])
		}
	}
	return s != "" && s[0] == g[0] && globMatch(g[1:], s[1:])
}

func TestACLAllows(t *testing.T) {
	configCats := []string{"@admin", "@slow", "@dangerous"}
	setCats := []string{"@write", "@string", "@slow"}
	for _, c := range []struct {
		rules string
		cmd   []string
		cats  []string
		want  bool
		ok    bool
	}{
		{"+@all", []string{"CONFIG", "SET"}, configCats, true, true},
		{"+@all -config", []string{"CONFIG", "SET"}, configCats, false, true},
		{"+@all -config +config|get", []string{"CONFIG", "SET"}, configCats, false, true},
		{"+@all -config|set", []string{"CONFIG", "SET"}, configCats, false, true},
		{"-@all +@read", []string{"SET", "k", "v"}, setCats, false, true},
		{"-@all +@read +@write", []string{"SET", "k", "v"}, setCats, true, true},
		{"+@all -@dangerous", []string{"CONFIG", "SET"}, configCats, false, true},
		{"+@all -@dangerous +config", []string{"CONFIG", "SET"}, configCats, true, true},
		{"allcommands", []string{"MODULE", "LOAD"}, nil, true, true},
		{"-@all +@write", []string{"SET"}, nil, false, false},
		{"", []string{"SET"}, setCats, false, false},
	} {
		got, ok := aclAllows(c.rules, c.cmd, c.cats)
		if got != c.want || ok != c.ok {
			t.Errorf("aclAllows(%q, %q) = %v, %v; want %v, %v", c.rules, c.cmd, got, ok, c.want, c.ok)
		}
	}
}

// FuzzInfoFields: INFO's text from any peer gives at most 1000 fields.
func FuzzInfoFields(f *testing.F) {
	f.Add("# Server\r\nredis_version:7.0.15\r\nrun_id:abc\r\n# Keyspace\r\ndb0:keys=3,expires=0,avg_ttl=0\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		if got := infoFields(s); len(got) > 1000 {
			t.Fatalf("infoFields kept %d fields", len(got))
		}
	})
}
