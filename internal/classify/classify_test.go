package classify

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// TestRuleExamples checks every rule against its own examples: each example
// must yield a detection of that rule, no negative example may.
func TestRuleExamples(t *testing.T) {
	e := Default()
	if len(e.Rules()) == 0 {
		t.Fatal("no rules loaded")
	}
	for _, r := range e.Rules() {
		t.Run(r.ID, func(t *testing.T) {
			if len(r.Examples) == 0 || len(r.NegativeExamples) == 0 {
				t.Fatalf("rule %s needs examples and negative_examples", r.ID)
			}
			for _, ex := range r.Examples {
				if !hasRule(e.Scan(ex), r.ID) {
					t.Errorf("Scan(%q) found no %s detection, want one", ex, r.ID)
				}
			}
			for _, ex := range r.NegativeExamples {
				if hasRule(e.Scan(ex), r.ID) {
					t.Errorf("Scan(%q) found a %s detection, want none", ex, r.ID)
				}
			}
		})
	}
}

func hasRule(ds []Detection, id string) bool {
	for _, d := range ds {
		if d.Rule == id {
			return true
		}
	}
	return false
}

func TestScanOffsetsAndRedaction(t *testing.T) {
	key := "sk-proj-Tq8Zk3vR0pWn5Lx2Hc7Yb1Jd9Fg4Ms6Qa3Ue8Ri0Oy2Kt5Vn7Xw1Pz4Lc6Hb9Jd_Ab3x"
	text := `{"msg":"call failed","headers":"Authorization: Bearer ` + key + `"}`
	e := Default().WithKey(testKey(t))
	ds := e.Scan(text)
	if len(ds) != 1 {
		t.Fatalf("Scan found %d detections, want 1: %+v", len(ds), ds)
	}
	d := ds[0]
	if got := text[d.Start:d.End]; got != key {
		t.Errorf("offsets cover %q, want the key", got)
	}
	if strings.Contains(d.Redacted, key[12:40]) {
		t.Errorf("Redacted = %q holds the body of the key", d.Redacted)
	}
	if d.Redacted != "sk-proj-Tq…Ab3x" {
		t.Errorf("Redacted = %q, want sk-proj-Tq…Ab3x", d.Redacted)
	}
	if d.Fingerprint != e.Fingerprint(key) || len(d.Fingerprint) != 64 {
		t.Errorf("Fingerprint = %q, want the HMAC of the key", d.Fingerprint)
	}
}

func TestOneDetectionPerValue(t *testing.T) {
	// The DeepSeek and OpenAI rules both look at sk- values; a value is
	// reported once.
	ds := Default().Scan("k=sk-3f9a2c7e81d44b0f9c6e5a1b2d3e4f50")
	if len(ds) != 1 || ds[0].Kind != "deepseek" {
		t.Fatalf("Scan = %+v, want one deepseek detection", ds)
	}
}

func TestValidators(t *testing.T) {
	tests := []struct {
		name, v string
		want    bool
	}{
		{"luhn", "4539 1488 0343 6467", true},
		{"luhn", "4539 1488 0343 6468", false},
		{"cn-resident-id", "11010519491231002X", true},
		{"cn-resident-id", "110105194912310021", false},
		{"aws-key-id", "AKIAZ4RT7QWPL2MXK5VB", true},
		{"aws-key-id", "AKIA0000000000000000", false},
		{"jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig", true},
		{"jwt", "eyJub3Rqc29u.eyJ4In0.sig", false},
	}
	for _, tt := range tests {
		if got := validators[tt.name](tt.v); got != tt.want {
			t.Errorf("%s(%q) = %v, want %v", tt.name, tt.v, got, tt.want)
		}
	}
}

func TestChatLog(t *testing.T) {
	rows := [][]string{{`{"messages":[{"role":"user","content":"帮我写一封邮件"}]}`}, {`{"role":"assistant","content":"好的"}`}, {"plain"}}
	if ok, why := ChatLog([]string{"body"}, rows); !ok {
		t.Errorf("ChatLog(conversation rows) = false, want true")
	} else if why == "" {
		t.Errorf("ChatLog gave no reason")
	}
	if ok, _ := ChatLog([]string{"prompt"}, [][]string{{"GET /index.html 200"}}); ok {
		t.Errorf("ChatLog(access log) = true, want false")
	}
}

// BenchmarkDefault measures loading the embedded rules, which every
// command that classifies pays at start.
func BenchmarkDefault(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		Default()
	}
}

// BenchmarkScanLogLine measures the engine on lab-shaped log values, one
// in fifty carrying a secret.
func BenchmarkScanLogLine(b *testing.B) {
	e := Default().WithKey(testKey(b))
	plain := `{"level":"info","route":"/v1/chat/completions","status":200,"messages":[{"role":"user","content":"帮我写一封邮件"}],"latency_ms":812}`
	secret := `{"level":"error","headers":{"Authorization":"Bearer sk-proj-Tq8Zk3vR0pWn5Lx2Hc7Yb1Jd9Fg4Ms6Qa3Ue8Ri0Oy2Kt5Vn7Xw1Pz4Lc6Hb9Jd_Ab3x"}}`
	b.SetBytes(int64(len(plain)))
	b.ResetTimer()
	for i := range b.N {
		if i%50 == 0 {
			e.Scan(secret)
		} else {
			e.Scan(plain)
		}
	}
}

// BenchmarkScanCorpus measures ScanReader, on every core, on the labelled
// corpus bench/classify compares peers on.
func BenchmarkScanCorpus(b *testing.B) {
	var text bytes.Buffer
	if err := corpus.GenerateSize(&text, io.Discard, 4<<20, 1); err != nil {
		b.Fatal(err)
	}
	e := Default().WithKey(testKey(b))
	b.SetBytes(int64(text.Len()))
	b.ResetTimer()
	for range b.N {
		if err := e.ScanReader(b.Context(), bytes.NewReader(text.Bytes()), "corpus", func(Finding) {}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSecretInURLUserinfoIsNotAnEmail(t *testing.T) {
	text := "git clone https://oauth2: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@git.internal.test/acme/repo.git"
	ds := Default().Scan(text)
	if len(ds) != 1 || ds[0].Kind != "github" {
		t.Fatalf("Scan(%q) = %+v, want one github detection", text, ds)
	}
}

// TestEveryRuleHasACheapTrigger guards speed without timing anything: a
// rule that runs on all text (no keyword, and a digit trigger that would
// miss one of its own examples) costs more than all the others together.
func TestEveryRuleHasACheapTrigger(t *testing.T) {
	e := Default()
	for _, ri := range e.always {
		t.Errorf("rule %s runs on all text: give it keywords, a digit trigger its examples satisfy, or trigger_upper", e.rules[ri].ID)
	}
}

func TestAdjacentValues(t *testing.T) {
	for _, text := range []string{
		"li.wei@qq.com wang.fang@163.com zhang.san@qq.com",
		"li.wei@qq.com,wang.fang@163.com,zhang.san@qq.com",
		"13812345678 13987654321 15911112222",
	} {
		if ds := Default().Scan(text); len(ds) != 3 {
			t.Errorf("Scan(%q) found %d values, want 3: %+v", text, len(ds), ds)
		}
	}
}

func TestRedactHidesEnough(t *testing.T) {
	for _, v := range []string{"OYnWq8Zr4kT12Is0", "abcde-fghijklmno", "wJ4rXUtn9FEMI2K7MDENGbPxRfiCYq8kD3lzQ1Vt", "sk-proj-Tq8Zk3vR0pWn5Lx2Hc7Yb1Jd9Fg4Ms6Qa3Ue8Ri0Oy2Kt5Vn7Xw1Pz4Lc6Hb9Jd_Ab3x"} {
		r := Redact("secret", "openai", v)
		shown := len([]rune(strings.ReplaceAll(r, "…", "")))
		prefix := 0
		if strings.HasPrefix(v, "sk-proj-") {
			prefix = 8
		}
		if hidden := len(v) - shown; hidden < 12 || 3*hidden < 2*(len(v)-prefix) {
			t.Errorf("Redact(%q) = %q hides %d characters, want at least 12 and two thirds", v, r, hidden)
		}
	}
}

func TestDedupeLongLineIsNotQuadratic(t *testing.T) {
	// 20,000 emails on one line: must finish (it took seconds when every
	// detection was compared with every other).
	line := strings.Repeat("li.wei@qq.com ", 20000)
	if ds := Default().Scan(line); len(ds) != 20000 {
		t.Errorf("found %d, want 20000", len(ds))
	}
}

// FuzzScan: whatever the text, detections lie inside it, do not overlap,
// are in order, and fingerprint exactly the bytes they point at.
func FuzzScan(f *testing.F) {
	e := Default().WithKey(testKey(f))
	for _, r := range e.Rules() {
		for _, ex := range r.Examples {
			f.Add(ex)
		}
	}
	f.Fuzz(func(t *testing.T, text string) {
		end := 0
		for _, d := range e.Scan(text) {
			if d.Start < end || d.Start >= d.End || d.End > len(text) {
				t.Fatalf("Scan(%q): detection %+v out of order or bounds", text, d)
			}
			end = d.End
			if d.Fingerprint != e.Fingerprint(text[d.Start:d.End]) {
				t.Fatalf("Scan(%q): fingerprint of %+v is not that of text[%d:%d]", text, d, d.Start, d.End)
			}
		}
	})
}
