package datastore_test

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
)

// TestTranslateRegexConstructs pins how each construct is written in each
// dialect; the lab tests check that the servers read them so.
func TestTranslateRegexConstructs(t *testing.T) {
	tests := []struct {
		pattern, posix, pcre, icu string
	}{
		{`a\.b`, `a\.b`, `(?-i)a\.b`, `(?-i)a\x{2E}b`},
		// Go folds k to K and the Kelvin sign; the classes are Go's own.
		{`(?i)k`, `[Kk\u212A]`, `(?-i)[Kk\x{212A}]`, `(?-i)[Kk\x{212A}]`},
		{`[^a-z]`, `[^a-z]`, `(?-i)[^a-z]`, `(?-i)[^a-z]`},
		// Go's . is [^\n]; an ARE's matches \n, a PCRE2 build's may miss \r.
		{`a.b`, `a[^\n]b`, `(?-i)a[^\n]b`, `(?-i)a[^\x{A}]b`},
		{`(?s:.)`, `.`, `(?-i)(?s:.)`, `(?-i)(?s:.)`},
		{`(?m)^x$`, `(?<![^\n])x(?![^\n])`, `(?-i)(?<![^\n])x(?![^\n])`, `(?-i)(?<![^\x{A}])x(?![^\x{A}])`},
		// $ without (?m) is the very end: PCRE's $ also matches before a final \n.
		{`\Ax\z`, `\Ax\Z`, `(?-i)\Ax\z`, `(?-i)\Ax\z`},
		{`x$`, `x\Z`, `(?-i)x\z`, `(?-i)x\z`},
		// RE2's \b looks at ASCII word characters only; an ARE's \b is a backspace.
		{`\bx`, `(?:(?<=[0-9A-Z\_a-z])(?![0-9A-Z\_a-z])|(?<![0-9A-Z\_a-z])(?=[0-9A-Z\_a-z]))x`,
			`(?-i)(?:(?<=[0-9A-Z\_a-z])(?![0-9A-Z\_a-z])|(?<![0-9A-Z\_a-z])(?=[0-9A-Z\_a-z]))x`,
			`(?-i)(?:(?<=[0-9A-Z\x{5F}a-z])(?![0-9A-Z\x{5F}a-z])|(?<![0-9A-Z\x{5F}a-z])(?=[0-9A-Z\x{5F}a-z]))x`},
		{`x\B`, `x(?:(?<=[0-9A-Z\_a-z])(?=[0-9A-Z\_a-z])|(?<![0-9A-Z\_a-z])(?![0-9A-Z\_a-z]))`,
			`(?-i)x(?:(?<=[0-9A-Z\_a-z])(?=[0-9A-Z\_a-z])|(?<![0-9A-Z\_a-z])(?![0-9A-Z\_a-z]))`,
			`(?-i)x(?:(?<=[0-9A-Z\x{5F}a-z])(?=[0-9A-Z\x{5F}a-z])|(?<![0-9A-Z\x{5F}a-z])(?![0-9A-Z\x{5F}a-z]))`},
		// Groups never capture; non-greedy is dropped (it never decides whether a match exists).
		{`(?P<v>ab)*?`, `(?:ab)*`, `(?-i)(?:ab)*`, `(?-i)(?:ab)*`},
		{`(a|b)c`, `(?:[ab])c`, `(?-i)(?:[ab])c`, `(?-i)(?:[ab])c`},
		// PostgreSQL counts to 255: above, the repeat goes unbounded (over-approximates).
		{`x{2,1000}`, `x{2,}`, `(?-i)x{2,1000}`, `(?-i)x{2,1000}`},
		{`x{300}`, `x{255,}`, `(?-i)x{300}`, `(?-i)x{300}`},
		{`x{3,255}`, `x{3,255}`, `(?-i)x{3,255}`, `(?-i)x{3,255}`},
		{`\d\s\w`, `[0-9][\t\n\u000C\r\ ][0-9A-Z\_a-z]`, `(?-i)[0-9][\t\n\x{C}\r\ ][0-9A-Z\_a-z]`,
			`(?-i)[0-9][\x{9}\x{A}\x{C}\x{D}\x{20}][0-9A-Z\x{5F}a-z]`},
		{`[\x{370}-\x{373}]`, `[\u0370-\u0373]`, `(?-i)[\x{370}-\x{373}]`, `(?-i)[\x{370}-\x{373}]`},
		// PostgreSQL text holds no NUL; no class holds a surrogate.
		{`\x00`, `(?!)`, `(?-i)\x{0}`, `(?-i)\x{0}`},
		{`[\x00-a]`, `[\u0001-a]`, `(?-i)[\x{0}-a]`, `(?-i)[\x{0}-a]`},
		{`[\x{D7FF}-\x{E000}]`, `[\uD7FF\uE000]`, `(?-i)[\x{D7FF}\x{E000}]`, `(?-i)[\x{D7FF}\x{E000}]`},
		{`[^\x00-\x{10FFFF}]`, `(?!)`, `(?-i)(?!)`, `(?-i)(?!)`},
		{`x{0}`, `(?:)`, `(?-i)(?:)`, `(?-i)(?:)`},
		// A quantified assertion holds as the assertion does, or always.
		{`(?:^)*x`, `(?:)x`, `(?-i)(?:)x`, `(?-i)(?:)x`},
		{`(?:^)+x`, `(?:\A)x`, `(?-i)(?:\A)x`, `(?-i)(?:\A)x`},
		{`a|b+`, `a|b+`, `(?-i)(?:a|b+)`, `(?-i)(?:a|b+)`},
		{`\x{1F600}é`, `\U0001F600\u00E9`, `(?-i)\x{1F600}\x{E9}`, `(?-i)\x{1F600}\x{E9}`},
		{"\t\n\r\x7f", `\t\n\r\u007F`, `(?-i)\t\n\r\x{7F}`, `(?-i)\x{9}\x{A}\x{D}\x{7F}`},
		{`[\]\-\\^]`, `[\-\\-\^]`, `(?-i)[\-\\-\^]`, `(?-i)[\x{2D}\x{5C}-\x{5E}]`},
	}
	for _, tt := range tests {
		for _, c := range []struct {
			d    datastore.Dialect
			want string
		}{{datastore.DialectPOSIX, tt.posix}, {datastore.DialectPCRE, tt.pcre}, {datastore.DialectICU, tt.icu}} {
			got, err := datastore.TranslateRegex(tt.pattern, c.d)
			if err != nil || got != c.want {
				t.Errorf("TranslateRegex(%q, %s) = %q, %v; want %q", tt.pattern, c.d, got, err, c.want)
			}
		}
		if got, err := datastore.TranslateRegex(tt.pattern, datastore.DialectRE2); err != nil || got != tt.pattern {
			t.Errorf("TranslateRegex(%q, re2) = %q, %v; want it unchanged", tt.pattern, got, err)
		}
	}
}

func TestTranslateRegexRefuses(t *testing.T) {
	tests := []struct {
		pattern string
		d       datastore.Dialect
		want    string // in the error
	}{
		{`sk-[a-z]+`, datastore.DialectLucene, "matches whole terms only"},
		{`sk-[a-z]+`, datastore.DialectNone, "declares no regex dialect"},
		{`sk-[a-z]+`, datastore.Dialect("sed"), `unknown dialect "sed"`},
		{`sk-[a-z`, datastore.DialectPOSIX, "missing closing ]"},
		{`(?<=x)y`, datastore.DialectPCRE, "invalid named capture"},
	}
	for _, tt := range tests {
		got, err := datastore.TranslateRegex(tt.pattern, tt.d)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.pattern) {
			t.Errorf("TranslateRegex(%q, %q) = %q, %v; want an error naming the pattern and %q", tt.pattern, tt.d, got, err, tt.want)
		}
	}
}

// TestTranslateRegexRules: every rule's pattern translates into each
// dialect the lab cannot all check (icu has no server here), as printable
// ASCII a driver can quote, with PostgreSQL's repeat counts kept.
func TestTranslateRegexRules(t *testing.T) {
	repeat := regexp.MustCompile(`\{(\d+)(?:,(\d*))?\}`)
	for _, r := range classify.Default().Rules() {
		for _, src := range []string{r.Pattern, r.Pushdown} {
			if src == "" {
				continue
			}
			for _, d := range []datastore.Dialect{datastore.DialectPOSIX, datastore.DialectPCRE, datastore.DialectICU} {
				got, err := datastore.TranslateRegex(src, d)
				if err != nil {
					t.Errorf("rule %s: TranslateRegex(%q, %s) = %v", r.ID, src, d, err)
					continue
				}
				for _, c := range got {
					if c < ' ' || c > '~' {
						t.Errorf("rule %s: TranslateRegex(%q, %s) = %q holds %q, want printable ASCII", r.ID, src, d, got, c)
						break
					}
				}
				if d == datastore.DialectPOSIX {
					for _, m := range repeat.FindAllStringSubmatch(got, -1) {
						lo, _ := strconv.Atoi(m[1])
						hi, _ := strconv.Atoi(m[2])
						if lo > 255 || hi > 255 {
							t.Errorf("rule %s: TranslateRegex(%q, posix) = %q: repeat %s above PostgreSQL's 255", r.ID, src, got, m[0])
						}
					}
				}
			}
		}
	}
}

func FuzzTranslateRegex(f *testing.F) {
	for _, r := range classify.Default().Rules() {
		f.Add(r.Pattern)
	}
	f.Add(`(?i)(?m)^\bstraße{2,1000}?$|[^\x00-\x{10FFFF}]\pL(?s:.)\x00`)
	f.Fuzz(func(t *testing.T, pattern string) {
		if _, err := syntax.Parse(pattern, syntax.Perl); err != nil {
			return
		}
		for _, d := range []datastore.Dialect{datastore.DialectPOSIX, datastore.DialectPCRE, datastore.DialectICU} {
			got, err := datastore.TranslateRegex(pattern, d)
			if err != nil {
				t.Fatalf("TranslateRegex(%q, %s) = %v, want a translation of every RE2 pattern", pattern, d, err)
			}
			if strings.IndexFunc(got, func(c rune) bool { return c < ' ' || c > '~' }) >= 0 {
				t.Fatalf("TranslateRegex(%q, %s) = %q, want printable ASCII", pattern, d, got)
			}
		}
	})
}

// BenchmarkTranslateRegexRules translates every rule's pattern once per
// dialect: the scanner does so once per session.
func BenchmarkTranslateRegexRules(b *testing.B) {
	var patterns []string
	for _, r := range classify.Default().Rules() {
		patterns = append(patterns, r.Pattern)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range []datastore.Dialect{datastore.DialectPOSIX, datastore.DialectPCRE} {
			for _, p := range patterns {
				if _, err := datastore.TranslateRegex(p, d); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
