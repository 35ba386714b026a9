package classify

import (
	"bytes"
	"context"
	"testing"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// BenchmarkScanIPLog scans a JSON log with a client address on every line,
// addresses counted (as the CLI does by default) and listed.
func BenchmarkScanIPLog(b *testing.B) {
	var log bytes.Buffer
	if err := corpus.GenerateAccessLog(&log, 4<<20, 1); err != nil {
		b.Fatal(err)
	}
	key, _ := NewKey()
	for _, bc := range []struct {
		name string
		e    *Engine
	}{
		{"counted", Default().WithKey(key).CountOnly(ContextKinds, nil)},
		{"listed", Default().WithKey(key)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(log.Len()))
			for range b.N {
				if err := bc.e.ScanReader(context.Background(), bytes.NewReader(log.Bytes()), "log", func(Finding) {}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
