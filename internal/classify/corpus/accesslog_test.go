package corpus

import (
	"bytes"
	"strings"
	"testing"
)

func TestGenerateAccessLog(t *testing.T) {
	var a, b bytes.Buffer
	if err := GenerateAccessLog(&a, 100_000, 1); err != nil {
		t.Fatal(err)
	}
	if err := GenerateAccessLog(&b, 100_000, 1); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) || a.Len() < 100_000 {
		t.Errorf("GenerateAccessLog: %d bytes, same for the same seed: %v; want at least 100000, the same", a.Len(), bytes.Equal(a.Bytes(), b.Bytes()))
	}
	for i, line := range strings.Split(strings.TrimSpace(a.String()), "\n") {
		if !strings.Contains(line, `"client_ip":"`) {
			t.Fatalf("line %d has no client address: %s", i+1, line)
		}
	}
}
