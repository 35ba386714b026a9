package classify

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// upperThenDigitPlain is upperThenDigit as a plain loop over every byte.
func upperThenDigitPlain(text string, n int) (out [][2]int) {
	run := 0
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c >= 'A' && c <= 'Z':
			run++
		case c >= '0' && c <= '9' && run >= n:
			out = append(out, [2]int{max(0, i-run-2), min(len(text), i+24)})
			run = 0
		default:
			run = 0
		}
	}
	return out
}

func upperThenDigitSpans(text string, n int) (out [][2]int) {
	upperThenDigit(text, n, func(s, e int) { out = append(out, [2]int{s, e}) })
	return out
}

// TestUpperThenDigit checks the skipping search against a plain loop.
func TestUpperThenDigit(t *testing.T) {
	for _, text := range []string{"", "A1", "RSSMRA85T10A562S", "xRSSMRA85", "ABCDEF1GHIJKL2", "AB1 ABCDEFG9 ABCDEF", "ABCDEF", "1ABCDEF0", "{\"cf\":\"BNCGLI90A41F205H\"}"} {
		for n := 1; n < 8; n++ {
			if got, want := upperThenDigitSpans(text, n), upperThenDigitPlain(text, n); !slices.Equal(got, want) {
				t.Errorf("upperThenDigit(%q, %d) = %v, want %v", text, n, got, want)
			}
		}
	}
}

func FuzzUpperThenDigit(f *testing.F) {
	f.Add("RSSMRA85T10A562S", 6)
	f.Add("AB1 ABCDEFG9 ABCDEF", 2)
	f.Fuzz(func(t *testing.T, text string, n int) {
		n = 1 + (n&0xff)%12
		if got, want := upperThenDigitSpans(text, n), upperThenDigitPlain(text, n); !slices.Equal(got, want) {
			t.Errorf("upperThenDigit(%q, %d) = %v, want %v", text, n, got, want)
		}
	})
}

// digitSpansPlain is digitSpans as a plain loop over every byte.
func digitSpansPlain(text string, minDigits int) (out [][4]int) {
	const before, after = 40, 40
	start, digits, seps, dots := -1, 0, 0, 0
	flush := func(end int) {
		if start >= 0 && isoDate(text[start:end]) {
			digits -= 8
		}
		if start >= 0 && digits >= minDigits {
			out = append(out, [4]int{max(0, start-before), min(len(text), end+after), digits, dots})
		}
		start, digits, seps, dots = -1, 0, 0, 0
	}
	for i := 0; i < len(text); i++ {
		switch spanByte[text[i]] {
		case spanDigit:
			if start < 0 {
				start = i
			}
			digits++
			seps = 0
		case spanSep:
			if start >= 0 {
				if text[i] == '.' {
					dots++
				}
				if seps++; seps > 2 {
					flush(i)
				}
			}
		default:
			if start >= 0 {
				flush(i)
			}
		}
	}
	flush(len(text))
	return out
}

func FuzzDigitSpans(f *testing.F) {
	f.Add("2025-01-01 00:00:01.042 call +1 (415) 555-0132 or 10.0.0.1", 4)
	f.Add("card 4526 0181 5908 3012 exp 12/29 ...   1", 6)
	f.Fuzz(func(t *testing.T, text string, n int) {
		n = (n & 0xff) % 16
		var got [][4]int
		digitSpans(text, n, func(s, e, d, dots, _ int) { got = append(got, [4]int{s, e, d, dots}) })
		if want := digitSpansPlain(text, n); !slices.Equal(got, want) {
			t.Errorf("digitSpans(%q, %d) = %v, want %v", text, n, got, want)
		}
	})
}

// TestDigitBytes holds digitBytes to a byte-by-byte look at every byte
// value in every position, among neighbours that are digits or not.
func TestDigitBytes(t *testing.T) {
	for _, fill := range []byte{'a', '5', 0xff, 0, '/', ':'} {
		for pos := range 8 {
			for c := range 256 {
				s := []byte(strings.Repeat(string(fill), 8))
				s[pos] = byte(c)
				var want uint64
				for i, b := range s {
					if b >= '0' && b <= '9' {
						want |= 0x80 << (8 * i)
					}
				}
				if got := digitBytes(string(s)); got != want {
					t.Fatalf("digitBytes(%q) = %#x, want %#x", s, got, want)
				}
			}
		}
	}
}

// BenchmarkDigitSpans runs digitSpans over the lines of a JSON access log
// (timestamps, addresses, latencies, hex request ids on every line).
func BenchmarkDigitSpans(b *testing.B) {
	var log bytes.Buffer
	if err := corpus.GenerateAccessLog(&log, 1<<20, 1); err != nil {
		b.Fatal(err)
	}
	lines := strings.Split(log.String(), "\n")
	b.SetBytes(int64(log.Len()))
	n := 0
	for range b.N {
		for _, l := range lines {
			digitSpans(l, 4, func(_, _, digits, _, _ int) { n += digits })
		}
	}
}

// FuzzLastSeparator holds lastSeparator to the strings.LastIndexAny it
// replaces.
func FuzzLastSeparator(f *testing.F) {
	f.Add(`{"a":"b c",'d';e=<f>	g`)
	f.Add("é\xff\"x")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := lastSeparator(s), strings.LastIndexAny(s, " \t\"',;=<>"); got != want {
			t.Errorf("lastSeparator(%q) = %d, want %d", s, got, want)
		}
	})
}
