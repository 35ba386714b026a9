package scan

import "testing"

func TestParseMemory(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{
		{"1G", 1 << 30}, {"512M", 512 << 20}, {"2g", 2 << 30}, {"64MiB", 64 << 20}, {"100KB", 100 << 10},
		{"1048576", 1 << 20}, {" 3T ", 3 << 40},
	} {
		if got, err := ParseMemory(tt.in); err != nil || got != tt.want {
			t.Errorf("ParseMemory(%q) = %d, %v, want %d", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "G", "-1G", "0", "1.5G", "1P", "9999999999T", "1 G B", "lots"} {
		if got, err := ParseMemory(in); err == nil {
			t.Errorf("ParseMemory(%q) = %d, want an error", in, got)
		}
	}
}
