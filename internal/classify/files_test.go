package classify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// lineByLine is the reference: every line scanned alone.
func lineByLine(e *Engine, input, path string) []Finding {
	var out []Finding
	for i, l := range strings.Split(input, "\n") {
		for _, d := range e.Scan(strings.TrimSuffix(l, "\r")) {
			out = append(out, Finding{Path: path, Line: i + 1, Detection: d})
		}
	}
	return out
}

func testInput(lines int) string {
	var b strings.Builder
	for i := range lines {
		switch i % 7 {
		case 0:
			fmt.Fprintf(&b, `{"i":%d,"auth":"Bearer sk-3f9a2c7e81d44b0f9c6e5a1b2d3e4f%02d"}`, i, i%100)
		case 3:
			fmt.Fprintf(&b, "contact li.wei%d@qq.com or 1381234%04d\r", i, i%10000)
		case 5:
			b.WriteString(strings.Repeat("x", i%300))
		default:
			fmt.Fprintf(&b, `{"i":%d,"msg":"nothing to see"}`, i)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestScanReaderMatchesLineByLine(t *testing.T) {
	e := Default()
	input := testInput(5000)
	want := lineByLine(e, input, "in")
	if len(want) < 1000 {
		t.Fatalf("reference found only %d detections", len(want))
	}
	defer func(c, m int) { chunkSize, maxLine = c, m }(chunkSize, maxLine)
	for _, size := range []int{1 << 20, 4096, 333} {
		chunkSize, maxLine = size, 1<<20
		for name, r := range map[string]io.Reader{
			"whole":    strings.NewReader(input),
			"one byte": iotest.OneByteReader(strings.NewReader(input)),
		} {
			var got []Finding
			if err := e.ScanReader(context.Background(), r, "in", func(f Finding) { got = append(got, f) }); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("chunk %d, %s reader: %d findings, want %d", size, name, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("chunk %d, %s reader: finding %d = %+v, want %+v", size, name, i, got[i], want[i])
				}
			}
		}
	}
}

func TestScanReaderLongLineBoundedAndCounted(t *testing.T) {
	defer func(c, m int) { chunkSize, maxLine = c, m }(chunkSize, maxLine)
	chunkSize, maxLine = 1024, 2048
	long := strings.Repeat("a", 10000)
	input := "x\n" + long + "\nkey li.wei@qq.com\n"
	var got []Finding
	if err := Default().ScanReader(context.Background(), strings.NewReader(input), "in", func(f Finding) { got = append(got, f) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Line != 3 || got[0].Kind != "email" {
		t.Fatalf("findings %+v, want one email on line 3 after a long line", got)
	}
}

func TestScanReaderError(t *testing.T) {
	r := io.MultiReader(strings.NewReader("ok line\n"), iotest.ErrReader(fmt.Errorf("disk on fire")))
	err := Default().ScanReader(context.Background(), r, "f.log", func(Finding) {})
	if err == nil || !strings.Contains(err.Error(), "f.log") || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("ScanReader error = %v, want one naming f.log and the cause", err)
	}
}

// BenchmarkScanReader measures the streaming path on all cores.
func BenchmarkScanReader(b *testing.B) {
	e := Default().WithKey(testKey(b))
	input := []byte(testInput(20000))
	b.SetBytes(int64(len(input)))
	for range b.N {
		e.ScanReader(context.Background(), bytes.NewReader(input), "in", func(Finding) {})
	}
}

func TestScanReaderOffsetsInLongLines(t *testing.T) {
	defer func(c, m int) { chunkSize, maxLine = c, m }(chunkSize, maxLine)
	chunkSize, maxLine = 1024, 2048
	long := strings.Repeat("a ", 5000) + "li.wei@qq.com"
	var got []Finding
	if err := Default().ScanReader(context.Background(), strings.NewReader("x\n"+long+"\n"), "in", func(f Finding) { got = append(got, f) }); err != nil {
		t.Fatal(err)
	}
	want := strings.Index(long, "li.wei")
	if len(got) != 1 || got[0].Line != 2 || got[0].Start != want || got[0].End != want+len("li.wei@qq.com") {
		t.Fatalf("findings %+v, want one email on line 2 at bytes %d-%d of the line", got, want, want+13)
	}
}
