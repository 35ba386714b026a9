package corpus

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// The stress shapes below are single shapes repeated, not a mix of logs:
// each once cost classify time in the square of a line's length (a long
// line full of triggers) or memory in the number of cores (a file dense
// with findings).

// DigitRuns returns one line of size bytes holding a run of 16 digits
// every 106 bytes, each the start of a short key=value record.
func DigitRuns(size int, seed uint64) []byte {
	g := newGen(seed)
	b := make([]byte, 0, size+106)
	for len(b) < size {
		rec := len(b)
		b = append(b, "ref="...)
		b = append(b, g.digits(16)...)
		b = append(b, " status=ok path=/api/v1/orders/lookup client=web region=eu-west-1 msg=processed "...)
		for len(b)-rec < 106 {
			b = append(b, 'x')
		}
	}
	return b[:size]
}

// JSONLogExport returns a minified JSON log export of about size bytes,
// one line with no newline: an array of log objects with 13-digit
// millisecond timestamps, one in 200 carrying a secret in its
// Authorization header and one in 50 a user's email. The labels say where
// (line 1).
func JSONLogExport(size int, seed uint64) ([]byte, []Label) {
	g := newGen(seed)
	var specs []secretSpec
	for _, s := range secretSpecs {
		if len(s.headers) > 0 && s.headers[0] == bearer[0] {
			specs = append(specs, s)
		}
	}
	var labels []Label
	plant := func(category, kind, variant, v string) {
		labels = append(labels, Label{Line: 1, Start: len(g.b), End: len(g.b) + len(v), Category: category, Kind: kind, Variant: variant})
		g.s(v)
	}
	g.b = append(make([]byte, 0, size+1024), '[')
	ts := int64(1732912345678)
	for i := 0; len(g.b) < size; i++ {
		if i > 0 {
			g.s(",")
		}
		ts += int64(1 + g.intn(5000))
		g.s(`{"ts":` + strconv.FormatInt(ts, 10) + `,"level":"info","svc":"checkout","trace":"` + g.pick(hexSet, 16) +
			`","route":"/v1/cart/items","status":200,"latency_ms":` + strconv.Itoa(g.intn(900)))
		switch {
		case i%200 == 17:
			s := specs[g.intn(len(specs))]
			g.s(`,"headers":{"Authorization":"Bearer `)
			plant(Secret, s.kind, s.variant, s.value(g))
			g.s(`"}`)
		case i%50 == 3:
			g.s(`,"user":"`)
			plant(PII, "email", "email", email(g))
			g.s(`"`)
		}
		g.s("}")
	}
	g.s("]")
	return g.b, labels
}

// DenseEmails writes lines of perLine emails each, separated by spaces,
// until at least size bytes are written: a file where nearly every word is
// a finding.
func DenseEmails(w io.Writer, size int64, perLine int, seed uint64) error {
	if perLine < 1 {
		return fmt.Errorf("corpus: %d emails per line: want at least one", perLine)
	}
	g := newGen(seed)
	out := bufio.NewWriterSize(w, 1<<20)
	var written int64
	for written < size {
		g.b = g.b[:0]
		for i := range perLine {
			if i > 0 {
				g.s(" ")
			}
			g.s(email(g))
		}
		g.s("\n")
		n, err := out.Write(g.b)
		if err != nil {
			return err
		}
		written += int64(n)
	}
	return out.Flush()
}
