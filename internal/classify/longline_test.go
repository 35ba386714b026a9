package classify

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// longLineShapes are lines that once cost time in the square of their
// length: triggers every hundred bytes, or a finding every twenty.
var longLineShapes = []struct {
	name string
	make func(size int) string
}{
	{"digit-runs", func(size int) string { return string(corpus.DigitRuns(size, 1)) }},
	{"json-log", func(size int) string { b, _ := corpus.JSONLogExport(size, 1); return string(b) }},
	{"emails", func(size int) string {
		var b bytes.Buffer
		corpus.DenseEmails(&b, int64(size), size/16, 1)
		line, _, _ := bytes.Cut(b.Bytes(), []byte{'\n'})
		return string(line)
	}},
}

// TestScanWorkLinearInLineLength counts, not times, what Scan does on one
// line: windows looked at while adding one, detections moved while
// keeping one per value. A line four times as long must cost about four
// times as much; it cost sixteen when every window added looked at all
// the others.
func TestScanWorkLinearInLineLength(t *testing.T) {
	e := Default()
	for _, shape := range longLineShapes {
		t.Run(shape.name, func(t *testing.T) {
			const small = 256 << 10
			_, w1 := e.scan(shape.make(small), nil)
			_, w4 := e.scan(shape.make(4*small), nil)
			if w1 == 0 || w4 > 6*w1 {
				t.Errorf("work on a %d KiB line = %d, on a %d KiB line = %d (%.1fx): want about 4x",
					small>>10, w1, 4*small>>10, w4, float64(w4)/float64(max(w1, 1)))
			}
		})
	}
}

// TestLongJSONLineFindsPlanted: a minified export scanned whole finds
// every secret and email planted in it, where it was planted.
func TestLongJSONLineFindsPlanted(t *testing.T) {
	line, labels := corpus.JSONLogExport(1<<20, 1)
	ds := Default().Scan(string(line))
	for _, l := range labels {
		if !slices.ContainsFunc(ds, func(d Detection) bool { return d.Start == l.Start && d.End == l.End && d.Kind == l.Kind }) {
			t.Errorf("planted %s at %d-%d not found", l.Kind, l.Start, l.End)
		}
	}
	if len(ds) != len(labels) {
		t.Errorf("found %d detections, planted %d", len(ds), len(labels))
	}
}

// TestKeepHeldKeepsWhatInsertingKeeps: the two ways dedupe keeps one
// detection per value agree, whatever the overlaps.
func TestKeepHeldKeepsWhatInsertingKeeps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		found := make([]Detection, 65+r.IntN(300))
		for i := range found {
			start := 500 + r.IntN(2000)
			found[i] = Detection{Rule: fmt.Sprint(i), Start: start, End: start + 1 + r.IntN(1+r.IntN(200))}
		}
		var w1, w2 int
		want := keepInserting(slices.Clone(found), &w1)
		got := keepHeld(slices.Clone(found), &w2)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: keepHeld kept %d detections, keepInserting %d: %v, want %v", round, len(got), len(want), got, want)
		}
	}
}

// BenchmarkScanLongLine scans one line of each shape whole at four sizes
// and reports the time per MB: linear cost keeps it flat as lines grow.
//
//	go test -run '^$' -bench ScanLongLine -benchtime 3x ./internal/classify
func BenchmarkScanLongLine(b *testing.B) {
	e := Default()
	for _, shape := range longLineShapes {
		for _, size := range []int{256 << 10, 1 << 20, 4 << 20, 16 << 20} {
			line := shape.make(size)
			b.Run(fmt.Sprintf("%s/%dKiB", shape.name, size>>10), func(b *testing.B) {
				b.SetBytes(int64(len(line)))
				start := time.Now()
				for range b.N {
					e.Scan(line)
				}
				perMB := time.Since(start).Seconds() * 1000 / float64(b.N) / (float64(len(line)) / (1 << 20))
				b.ReportMetric(perMB, "ms/MB")
			})
		}
	}
}
