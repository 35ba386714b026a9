package classify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/leakhound/leakhound/internal/classify/corpus"
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
	long := strings.Repeat("a", 200000) // cut: longer than maxLine and twice the overlap
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
	long := strings.Repeat("a ", 50000) + "li.wei@qq.com"
	var got []Finding
	if err := Default().ScanReader(context.Background(), strings.NewReader("x\n"+long+"\n"), "in", func(f Finding) { got = append(got, f) }); err != nil {
		t.Fatal(err)
	}
	want := strings.Index(long, "li.wei")
	if len(got) != 1 || got[0].Line != 2 || got[0].Start != want || got[0].End != want+len("li.wei@qq.com") {
		t.Fatalf("findings %+v, want one email on line 2 at bytes %d-%d of the line", got, want, want+13)
	}
}

// collect runs ScanReader on input and returns what it reports.
func collect(t *testing.T, e *Engine, input string) []Finding {
	t.Helper()
	var got []Finding
	if err := e.ScanReader(context.Background(), strings.NewReader(input), "in", func(f Finding) { got = append(got, f) }); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestScanReaderKeyAcrossCut: a line of 3 MiB is cut where the first read
// ends (2 MiB into the input) and scanned in pieces of 256 KiB; keys
// placed every 256 KiB, one across that cut and one across the end of the
// first piece, are each found once, where they lie.
func TestScanReaderKeyAcrossCut(t *testing.T) {
	key := "sk-proj-Tq8Zk3vR0pWn5Lx2Hc7Yb1Jd9Fg4Ms6Qa3Ue8Ri0Oy2Kt5Vn7Xw1Pz4Lc6Hb9Jd_Ab3x"
	line := []byte(strings.Repeat("lorem ipsum dolor ", (3<<20)/18))
	var want []int
	for at := 256 << 10; at+len(key) < len(line); at += 256 << 10 {
		start := at - 20 // "first line\n" puts the read's end 11 bytes before 2 MiB
		copy(line[start:], " Bearer "+key+" ")
		want = append(want, start+len(" Bearer "))
	}
	got := collect(t, Default(), "first line\n"+string(line)+"\nlast\n")
	var starts []int
	for _, f := range got {
		if f.Line != 2 || f.Start < 0 || f.End > len(line) || string(line[f.Start:f.End]) != key {
			t.Errorf("finding %+v: want the key on line 2", f)
		}
		starts = append(starts, f.Start)
	}
	if !slices.Equal(starts, want) {
		t.Errorf("keys found at %v, want %v", starts, want)
	}
}

// TestScanReaderLongLinesMatchWholeLine: lines cut between reads and
// scanned in overlapping pieces report what each line scanned whole
// reports: nothing lost at a cut, nothing twice, offsets within the line.
func TestScanReaderLongLinesMatchWholeLine(t *testing.T) {
	e := Default()
	// Tokens back to back: every cut falls in or next to one.
	var tokens strings.Builder
	for i := 0; tokens.Len() < 400<<10; i++ {
		fmt.Fprintf(&tokens, "t=ghp_%s li.wei%d@qq.com ", corpus.CRC32Complete(fmt.Sprintf("Z5sQ7nTHD0Lhs3BXWP8mE2cRk%05d", i)), i)
	}
	export, _ := corpus.JSONLogExport(300<<10, 2)
	input := "short li.wei@qq.com\n" + tokens.String() + "\n" + string(export) + "\r\n" +
		string(corpus.DigitRuns(300<<10, 2)) + "\n" + testInput(300)
	want := lineByLine(e, input, "in")
	if len(want) < 10000 {
		t.Fatalf("reference found only %d detections", len(want))
	}
	defer func(c, m, p int) { chunkSize, maxLine, maxPiece = c, m, p }(chunkSize, maxLine, maxPiece)
	for _, sizes := range [][3]int{{1 << 20, 1 << 20, 256 << 10}, {64 << 10, 1, 80 << 10}, {12345, 1, 1}, {100 << 10, 150 << 10, 123 << 10}} {
		chunkSize, maxLine, maxPiece = sizes[0], sizes[1], sizes[2]
		got := collect(t, e, input)
		if len(got) != len(want) {
			t.Errorf("chunk %d, line %d, piece %d: %d findings, want %d", sizes[0], sizes[1], sizes[2], len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("chunk %d, line %d, piece %d: finding %d = %+v, want %+v", sizes[0], sizes[1], sizes[2], i, got[i], want[i])
				break
			}
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// heldWhileBlocked starts ScanReader on input with a caller that takes the
// first finding and then stops taking any, waits for reading and scanning
// to stop, and returns how much the live heap grew.
func heldWhileBlocked(t *testing.T, input []byte) uint64 {
	t.Helper()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	done := make(chan error, 1)
	r := &countingReader{r: bytes.NewReader(input)}
	go func() {
		first := true
		done <- Default().ScanReader(ctx, r, "in", func(Finding) {
			if first {
				first = false
				<-release
			}
		})
	}()
	defer func() {
		cancel()
		close(release)
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Error(err)
		}
	}()
	// Settled: neither the bytes read nor the live heap change for a while.
	lastRead, lastHeap, still := int64(-1), uint64(0), 0
	for deadline := time.Now().Add(time.Minute); still < 5 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if n := r.n.Load(); n == lastRead && ms.HeapAlloc <= lastHeap+lastHeap/100 {
			still++
		} else {
			lastRead, lastHeap, still = n, ms.HeapAlloc, 0
		}
	}
	if r.n.Load() >= int64(len(input)) {
		t.Fatalf("all %d bytes were read while the caller took no findings: want reading to wait", len(input))
	}
	return ms.HeapAlloc - min(before, ms.HeapAlloc)
}

// TestScanReaderMemoryDoesNotGrowWithFindings: while the caller is slow to
// take findings, workers wait instead of gathering them, so a file where
// every line is a finding holds about the memory of one with none, on
// many cores as on few.
func TestScanReaderMemoryDoesNotGrowWithFindings(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	const size = 32 << 20
	var dense bytes.Buffer
	dense.WriteString("li.wei@qq.com\n")
	if err := corpus.DenseEmails(&dense, size, 1, 1); err != nil {
		t.Fatal(err)
	}
	sparse := []byte("li.wei@qq.com\n" + strings.Repeat("lorem ipsum dolor sit amet\n", size/27))
	heldSparse := heldWhileBlocked(t, sparse)
	heldDense := heldWhileBlocked(t, dense.Bytes())
	t.Logf("GOMAXPROCS=8: scanning holds %d MB with a finding a line, %d MB with none", heldDense>>20, heldSparse>>20)
	if heldDense > heldSparse+16<<20 {
		t.Errorf("scanning holds %d MB with a finding on every line, %d MB without: want findings to hold under 16 MB", heldDense>>20, heldSparse>>20)
	}
}
