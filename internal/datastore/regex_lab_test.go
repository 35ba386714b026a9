package datastore_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/lab"
)

// regexCheck is one subject matched against one translated pattern, on
// the server and by Go's regexp against the original.
type regexCheck struct {
	pattern int // index into the patterns sent
	subject string
	goMatch bool
	kind    string // example, embedded, negative, generated, mutated
	what    string // rule, kind of subject and its index: never the subject itself
	exact   bool   // the translation claims the server's answer equals Go's
}

// regexTarget is an engine a translation is checked on.
type regexTarget struct {
	name    string
	engine  string
	d       datastore.Dialect
	prelude string // SQL run first in the same session
}

var regexTargets = []regexTarget{
	{name: "posix", engine: "PostgreSQL on 127.0.0.8", d: datastore.DialectPOSIX},
	{name: "pcre", engine: "MariaDB on 127.0.0.14", d: datastore.DialectPCRE},
	// A server's default_regex_flags apply to every REGEXP: the
	// translation must mean the same under all of them (EXTENDED would
	// drop an unescaped space, MULTILINE move ^ and $).
	{name: "pcre-flags", engine: "MariaDB on 127.0.0.14 with every default_regex_flags", d: datastore.DialectPCRE,
		prelude: "SET SESSION default_regex_flags='DOTALL,EXTENDED,EXTENDED_MORE,MULTILINE,UNGREEDY';\n"},
	{name: "icu", engine: "the ICU library (MySQL 8's engine)", d: datastore.DialectICU},
}

// serverRegex runs every check on the real server of dialect d and returns
// its answers, in order. Many checks go in one query: the whole suite
// takes a few seconds.
func serverRegex(t *testing.T, target regexTarget, patterns []string, checks []regexCheck) []bool {
	t.Helper()
	d := target.d
	ctx := context.Background()
	got := make([]bool, len(checks))
	seen := make([]bool, len(checks))
	parse := func(out string) {
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" {
				continue
			}
			f := strings.Split(line, "\t")
			i, err := strconv.Atoi(f[0])
			if err != nil || len(f) != 2 || i < 0 || i >= len(checks) {
				t.Fatalf("%s: unexpected output line %q", d, line)
			}
			seen[i] = true
			got[i] = f[1] == "t" || f[1] == "1"
		}
	}
	switch d {
	case datastore.DialectPOSIX:
		// psql -c takes the query as one argument (at most 128 KiB):
		// checks go in chunks, each naming its patterns once. Strings go
		// as hex, so no quoting of the server's is trusted. The subject
		// takes the database's collation, as a column does: convert_from
		// gives "C", under which é is no word character, and a wrong \b
		// would go unseen.
		for start := 0; start < len(checks); {
			var pats, subs strings.Builder
			used := map[int]bool{}
			end := start
			for ; end < len(checks) && pats.Len()+subs.Len() < 90_000; end++ {
				c := checks[end]
				if !used[c.pattern] {
					used[c.pattern] = true
					if pats.Len() > 0 {
						pats.WriteString(",")
					}
					fmt.Fprintf(&pats, "(%d,convert_from(decode('%s','hex'),'UTF8'))", c.pattern, hex.EncodeToString([]byte(patterns[c.pattern])))
				}
				if subs.Len() > 0 {
					subs.WriteString(",")
				}
				fmt.Fprintf(&subs, "(%d,%d,convert_from(decode('%s','hex'),'UTF8'))", end, c.pattern, hex.EncodeToString([]byte(c.subject)))
			}
			q := "WITH p(id,re) AS (VALUES " + pats.String() + "), s(i,pid,x) AS (VALUES " + subs.String() +
				") SELECT s.i, (s.x COLLATE \"default\") ~ p.re FROM s JOIN p ON p.id = s.pid"
			out, err := lab.PGOpen.Admin(ctx, "postgres", q)
			if err != nil {
				t.Fatalf("posix checks %d..%d: %v", start, end, err)
			}
			parse(out)
			start = end
		}
	case datastore.DialectPCRE:
		var q strings.Builder
		q.WriteString(target.prelude)
		for i, c := range checks {
			fmt.Fprintf(&q, "SELECT %d, CONVERT(X'%s' USING utf8mb4) REGEXP CONVERT(X'%s' USING utf8mb4);\n", i,
				hex.EncodeToString([]byte(c.subject)), hex.EncodeToString([]byte(patterns[c.pattern])))
		}
		out, err := lab.MariaDBOpen.Admin(ctx, q.String())
		if err != nil {
			t.Fatalf("pcre checks: %v", err)
		}
		parse(out)
	case datastore.DialectICU:
		// No MySQL 8 here: its engine, the ICU library, run as MySQL runs
		// it (testdata/icufind.c).
		bin := icuFind(t)
		var in strings.Builder
		for i, c := range checks {
			fmt.Fprintf(&in, "%d\t%s\t%s\n", i, hex.EncodeToString([]byte(patterns[c.pattern])), hex.EncodeToString([]byte(c.subject)))
		}
		cmd := exec.Command(bin)
		cmd.Stdin = strings.NewReader(in.String())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("icu checks: %v", err)
		}
		if i := strings.Index(string(out), "ERR"); i >= 0 {
			t.Fatalf("icu refused a translation: %.200s", out[max(i-10, 0):])
		}
		parse(string(out))
	default:
		t.Fatalf("no lab server speaks %s", d)
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("%s: no answer for check %d (%s)", d, i, checks[i].what)
		}
	}
	return got
}

// icuFind builds testdata/icufind.c, or skips the test where the C
// compiler or ICU's headers are missing.
func icuFind(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/include/unicode/uregex.h"); err != nil {
		t.Skip("ICU's headers (libicu-dev) are not installed")
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build testdata/icufind.c")
	}
	bin := filepath.Join(t.TempDir(), "icufind")
	if out, err := exec.Command(cc, "-O1", "-o", bin, "testdata/icufind.c", "-licui18n", "-licuuc").CombinedOutput(); err != nil {
		t.Fatalf("building testdata/icufind.c: %v: %s", err, out)
	}
	return bin
}

// embedNoise surrounds examples: 750 bytes of near-misses (api_key = "…"),
// newlines and non-ASCII.
var embedNoise = strings.Repeat("the fox said: api_key = \"not-a-key\" token: abc_DEF-123 é 😀 \\n\n", 10)

func needLab(t *testing.T) {
	if !lab.Enabled() {
		t.Skip("LEAKHOUND_LAB=1 not set (scripts/test brings the lab up)")
	}
}

// TestTranslateRegexRulesOnServers holds every rule's pattern, translated,
// to the real servers: every example and every generated string Go's
// regexp matches must match on the server too (no under-approximation);
// how often a non-match matches there (over-approximation) is reported.
func TestTranslateRegexRulesOnServers(t *testing.T) {
	needLab(t)
	rules := classify.Default().Rules()
	for _, target := range regexTargets {
		d := target.d
		t.Run(target.name, func(t *testing.T) {
			var patterns []string
			var checks []regexCheck
			refused := map[string][]string{}
			translated := 0
			for _, r := range rules {
				sources := []string{r.Pattern}
				if r.Pushdown != "" {
					sources = append(sources, r.Pushdown)
				}
				for si, src := range sources {
					tr, err := datastore.TranslateRegex(src, d)
					if err != nil {
						refused[err.Error()] = append(refused[err.Error()], r.ID)
						continue
					}
					translated++
					re := regexp.MustCompile(src)
					pi := len(patterns)
					patterns = append(patterns, tr)
					name := r.ID
					if si == 1 {
						name += " (pushdown)"
					}
					add := func(kind string, i int, s string) {
						if d == datastore.DialectPOSIX && strings.ContainsRune(s, 0) {
							return // PostgreSQL text holds no NUL
						}
						checks = append(checks, regexCheck{pattern: pi, subject: s, goMatch: re.MatchString(s),
							kind: kind, what: fmt.Sprintf("%s %s[%d]", name, kind, i)})
					}
					for i, ex := range r.Examples {
						add("example", i, ex)
					}
					for i, ex := range r.Examples {
						// Amid text that looks like keys: a server's engine
						// must not give up where Go's finds the match.
						add("embedded", i, embedNoise+ex+embedNoise)
					}
					for i, ex := range r.NegativeExamples {
						add("negative", i, ex)
					}
					rnd := rand.New(rand.NewPCG(uint64(len(checks)), 9))
					for i, s := range generate(src, rnd, 12) {
						add("generated", i, s)
						add("mutated", i, mutate(s, rnd))
					}
				}
			}
			got := serverRegex(t, target, patterns, checks)
			var under []string
			misses := map[string]int{}
			stats := map[string][3]int{} // kind → go matches, non-matches, non-matches the server matched
			for i, c := range checks {
				s := stats[c.kind]
				if c.goMatch {
					s[0]++
					if !got[i] {
						misses[c.kind]++
						under = append(under, fmt.Sprintf("%s (%d bytes): Go matches, the server does not; sent %.300q", c.what, len(c.subject), patterns[c.pattern]))
					}
				} else {
					s[1]++
					if got[i] {
						s[2]++
					}
				}
				stats[c.kind] = s
			}
			t.Logf("%s: %d patterns (of %d rules, with pushdown patterns) translated, %d refused; %d checks run by %s", d, translated, len(rules), len(checksRefused(refused)), len(checks), target.engine)
			for reason, ids := range refused {
				t.Logf("  refused %d: %s (%s)", len(ids), reason, strings.Join(ids, ", "))
			}
			kinds := make([]string, 0, len(stats))
			for k := range stats {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			for _, k := range kinds {
				s := stats[k]
				t.Logf("  %-9s Go matches %5d (server misses %d); Go non-matches %5d, server matches %d of them (over-approximation %.1f%%)",
					k, s[0], misses[k], s[1], s[2], 100*float64(s[2])/float64(max(s[1], 1)))
			}
			for _, u := range under {
				t.Errorf("under-approximation: %s", u)
			}
		})
	}
}

func checksRefused(refused map[string][]string) []string {
	var all []string
	for _, ids := range refused {
		all = append(all, ids...)
	}
	return all
}

// TestTranslateRegexConstructsOnServers runs the translation of each
// construct on the real servers against subjects chosen to tell the
// dialects apart (é around \b, \r against ., K against the Kelvin sign,
// a final \n against $, every ASCII character against its own escape): the
// server must answer as Go does, except where the translation says it
// over-approximates, where it may only answer yes more often.
func TestTranslateRegexConstructsOnServers(t *testing.T) {
	needLab(t)
	type construct struct {
		pattern  string
		subjects []string
		superset datastore.Dialect // this dialect may over-approximate it
	}
	xs := func(n int) string { return strings.Repeat("x", n) }
	constructs := []construct{
		{pattern: `(?i)k`, subjects: []string{"K", "k", "\u212A", "x"}},
		{pattern: `(?i)straße`, subjects: []string{"STRASSE", "ſtraße", "STRAẞE", "Straße", "strasse"}},
		{pattern: `(?i:ab)c`, subjects: []string{"ABc", "abC", "aBc"}},
		{pattern: `(?m)^a$`, subjects: []string{"a", "b\na\nc", "ba", "a\r", "a\n", "\na"}},
		{pattern: `(?m)a$`, subjects: []string{"a\r\n", "a\n", "ab"}},
		{pattern: `\bfoo\b`, subjects: []string{"foo", "éfoo", "_foo", "foo1", "foo-", "a foo b", "foobar", "фfooж"}},
		{pattern: `\Bfoo`, subjects: []string{"foo", "éfoo", "afoo", " foo"}},
		{pattern: `(?:\b)+x`, subjects: []string{"x", "ax", " x"}},
		{pattern: `(?:^|\b)*x`, subjects: []string{"x", "ax"}},
		{pattern: `(?:^|x)+y`, subjects: []string{"y", "xxy", "ay", "axy"}},
		{pattern: `(?:\b|-){2}y`, subjects: []string{"y", "-y", "a--y", "ay"}},
		{pattern: `a$`, subjects: []string{"a\n", "a", "ab"}},
		{pattern: `^a`, subjects: []string{"\na", "a", "ba"}},
		{pattern: `\Aa\z`, subjects: []string{"a", "a\n", "\na"}},
		{pattern: `a.b`, subjects: []string{"a\nb", "a\rb", "aéb", "a😀b", "a\u2028b", "ab"}},
		{pattern: `(?s)a.b`, subjects: []string{"a\nb", "a\rb"}},
		{pattern: `x{300}`, subjects: []string{xs(300), xs(299), xs(255)}, superset: datastore.DialectPOSIX},
		{pattern: `^x{2,1000}$`, subjects: []string{xs(1000), xs(1001), xs(1)}, superset: datastore.DialectPOSIX},
		{pattern: `^x{0,3}?$`, subjects: []string{"", "xxx", "xxxx"}},
		{pattern: `a??b|c*?d|e+?f`, subjects: []string{"b", "ab", "d", "ccd", "f", "eef", "e"}},
		{pattern: `[^\x00-\x{10FFFF}]`, subjects: []string{"a", ""}},
		{pattern: `\pL+`, subjects: []string{"é", "ж", "1", "_", "ǅ"}},
		{pattern: `\p{Greek}`, subjects: []string{"λ", "l"}},
		{pattern: `[[:^alpha:]]`, subjects: []string{"é", "a", "1"}},
		{pattern: `\d\s\w`, subjects: []string{"1 a", "١ a", "1\u00a0a", "1 é", "1\va", "1\fé"}},
		{pattern: `[\x{10000}-\x{10FFFF}]`, subjects: []string{"😀", "a"}},
		{pattern: `\x{FFFD}|\x{D7FF}|\x{E000}`, subjects: []string{"\uFFFD", "\uD7FF", "\uE000", "x"}},
		{pattern: `(a|)+b`, subjects: []string{"b", "aab", "c"}},
		{pattern: `(?P<name>x)y`, subjects: []string{"xy", "x"}},
		{pattern: `x{0}y`, subjects: []string{"y", "xy"}},
		{pattern: `(?:)`, subjects: []string{"", "a"}},
		{pattern: `\Qa.b\E`, subjects: []string{"a.b", "axb"}},
		{pattern: `[\-\]\\^]`, subjects: []string{"-", "]", "\\", "^", "a"}},
		{pattern: `[a-c-e]`, subjects: []string{"b", "-", "e", "d"}},
	}
	// Every ASCII character as a literal, in a class, and in a negated
	// class: each escape of each dialect, against its neighbours.
	for r := rune(1); r < 0x80; r++ {
		q := regexp.QuoteMeta(string(r))
		subs := []string{string(r), string(r - 1), string(r + 1), "é"}
		constructs = append(constructs,
			construct{pattern: `\A` + q + `\z`, subjects: subs},
			construct{pattern: fmt.Sprintf(`\A[\x{%x}]\z`, r), subjects: subs},
			construct{pattern: fmt.Sprintf(`\A[^\x{%x}]\z`, r), subjects: subs},
			construct{pattern: fmt.Sprintf(`\A[\x{%x}-\x{%x}]\z`, r, min(r+2, 0x7f)), subjects: subs})
	}
	for _, target := range regexTargets {
		d := target.d
		t.Run(target.name, func(t *testing.T) {
			var patterns []string
			var checks []regexCheck
			for _, c := range constructs {
				tr, err := datastore.TranslateRegex(c.pattern, d)
				if err != nil {
					t.Errorf("TranslateRegex(%q, %s) = %v, want a translation", c.pattern, d, err)
					continue
				}
				re := regexp.MustCompile(c.pattern)
				pi := len(patterns)
				patterns = append(patterns, tr)
				for i, s := range c.subjects {
					if d == datastore.DialectPOSIX && strings.ContainsRune(s, 0) {
						continue
					}
					checks = append(checks, regexCheck{pattern: pi, subject: s, goMatch: re.MatchString(s),
						what: fmt.Sprintf("%q subject %d %+q", c.pattern, i, s), exact: c.superset != d})
				}
			}
			got := serverRegex(t, target, patterns, checks)
			for i, c := range checks {
				switch {
				case c.goMatch && !got[i]:
					t.Errorf("%s: Go matches, the server does not (under-approximation); sent %q", c.what, patterns[c.pattern])
				case !c.goMatch && got[i] && c.exact:
					t.Errorf("%s: the server matches, Go does not; sent %q", c.what, patterns[c.pattern])
				}
			}
			t.Logf("%s: %d constructs, %d checks run by %s", d, len(patterns), len(checks), target.engine)
		})
	}
}

// generate returns up to n strings built from pattern's tree that Go's
// regexp matches, with random characters of its classes (non-ASCII ones
// included), random case of its case-folded literals and random repeat
// counts up to a repeat's maximum, amid random surroundings.
func generate(pattern string, rnd *rand.Rand, n int) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	goRe := regexp.MustCompile(pattern)
	around := []string{"", " ", "x", "é", "\n", "=", "😀", "_"}
	var out []string
	for try := 0; try < 20*n && len(out) < n; try++ {
		var b strings.Builder
		b.WriteString(around[rnd.IntN(len(around))])
		gen(re, rnd, &b)
		b.WriteString(around[rnd.IntN(len(around))])
		if s := b.String(); goRe.MatchString(s) {
			out = append(out, s)
		}
	}
	return out
}

func gen(re *syntax.Regexp, rnd *rand.Rand, b *strings.Builder) {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if re.Flags&syntax.FoldCase != 0 {
				for k := rnd.IntN(3); k > 0; k-- {
					r = unicode.SimpleFold(r)
				}
			}
			b.WriteRune(r)
		}
	case syntax.OpCharClass:
		b.WriteRune(pick(re.Rune, rnd))
	case syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		b.WriteRune(pick([]rune{' ', '~', 0x80, 0x2FF, 0x10000, 0x1F64F}, rnd))
	case syntax.OpCapture, syntax.OpConcat:
		for _, s := range re.Sub {
			gen(s, rnd, b)
		}
	case syntax.OpAlternate:
		gen(re.Sub[rnd.IntN(len(re.Sub))], rnd, b)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := re.Min, re.Max
		switch re.Op {
		case syntax.OpStar:
			lo, hi = 0, 3
		case syntax.OpPlus:
			lo, hi = 1, 4
		case syntax.OpQuest:
			lo, hi = 0, 1
		}
		if hi < 0 {
			hi = lo + 3
		}
		k := lo + rnd.IntN(hi-lo+1)
		if rnd.IntN(4) == 0 {
			k = hi // the longest, past PostgreSQL's 255 where the rule allows it
		}
		for ; k > 0; k-- {
			gen(re.Sub[0], rnd, b)
		}
	}
}

// pick returns a random rune of the ranges: a random range, then a random
// rune in it, never NUL or a surrogate.
func pick(ranges []rune, rnd *rand.Rand) rune {
	for {
		i := 2 * rnd.IntN(len(ranges)/2)
		lo, hi := ranges[i], ranges[i+1]
		r := lo + rnd.Int32N(hi-lo+1)
		if r != 0 && utf8.ValidRune(r) {
			return r
		}
	}
}

// mutate replaces one character of s with a random one: mostly a string
// the pattern no longer matches, to measure how often the server still does.
func mutate(s string, rnd *rand.Rand) string {
	rs := []rune(s)
	if len(rs) == 0 {
		return "x"
	}
	rs[rnd.IntN(len(rs))] = pick([]rune{'!', '~', 0xC0, 0x17F, 0x212A, 0x212A}, rnd)
	return string(rs)
}
