package scan

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseMemory reads a memory size: bytes, or a number with a K, M, G or T
// suffix (powers of 1024; "MB", "MiB" and lower case also read).
func ParseMemory(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	shift := 0
	if n := len(t); n > 0 {
		if i := strings.IndexByte("KMGT", t[n-1]); i >= 0 {
			shift, t = 10*(i+1), t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("%q is not a size such as 512M or 2G", s)
	}
	return n << shift, nil
}
