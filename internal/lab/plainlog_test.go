package lab

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// The plain-text log_stream, read back as a session presents it (names and
// values as "name = value" lines): every prompt row is judged a message to
// an assistant under string.values[message], and no other row is, the
// errors logged under message in the same span included.
func TestPlainLogStreamRowsAreJudged(t *testing.T) {
	const n = 2000
	var buf bytes.Buffer
	if err := WritePlainLogStream(&buf, n, 1); err != nil {
		t.Fatal(err)
	}
	cols := []string{"span_name", "string.names", "string.values", "_service", "_source"}
	judged, i := 0, 0
	sc := bufio.NewScanner(&buf)
	for ; sc.Scan(); i++ {
		f := strings.Split(sc.Text(), "\t")
		names, values := strings.Split(unescapeArray(f[2]), "\n"), strings.Split(unescapeArray(f[3]), "\n")
		place, why, ok := classify.Conversation(cols, []string{f[1], strings.Join(names, "\n"), corpus.Pairs(names, values), f[4], f[5]})
		prompt := i%20 < 8
		if ok != prompt || ok && place != "string.values[message]" {
			t.Errorf("row %d (%s): judged %v at %q (%s), want %v at string.values[message]", i, f[3], ok, place, why, prompt)
		}
		if ok {
			judged++
		}
	}
	if i != n || judged != n*PlainLogPrompts/PlainLogRows {
		t.Errorf("%d rows, %d judged prompts; want %d and %d", i, judged, n, n*PlainLogPrompts/PlainLogRows)
	}
}
