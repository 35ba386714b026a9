package report

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"unicode/utf16"
	"unicode/utf8"
)

// maxColumnLine is the longest line whose columns are counted: a longer
// one gets a line without columns, so the writer holds at most this much.
const maxColumnLine = 1 << 20

// columns finds the SARIF columns (1-based UTF-16 code units, the run's
// columnKind) of a detection, which classify gives as byte offsets in its
// line: it reads the file again, once, as the findings come in line order,
// holding one line. A detection in standard input, in a file that is not
// regular (a FIFO cannot be read twice), or on a line that changed or is
// too long gets none (a line rewritten since the scan is not noticed
// unless it is now too short).
type columns struct {
	path string
	f    *os.File
	r    *bufio.Reader
	line int    // number of the line in text, 0 before the first
	text []byte // that line, nil when too long or unreadable
	buf  []byte
	// rereads counts the times path was read again from its start for a
	// detection out of line order; past maxRereads such a detection gets
	// no columns, so a file is read a bounded number of times.
	rereads int
}

const maxRereads = 4

// of returns the columns of bytes [start, end) of line in path, ok false
// when they cannot be told.
func (c *columns) of(path string, line, start, end int) (from, to int, ok bool) {
	if path == "-" || line < 1 {
		return 0, 0, false
	}
	switch {
	case path != c.path:
		c.rereads = 0
		c.open(path)
	case line < c.line && c.rereads < maxRereads:
		c.rereads++
		c.open(path)
	case line < c.line:
		return 0, 0, false
	}
	for c.r != nil && c.line < line {
		c.next()
	}
	if c.line != line || c.text == nil || start < 0 || end > len(c.text) || start > end {
		return 0, 0, false
	}
	from = utf16Len(c.text[:start]) + 1
	return from, from + utf16Len(c.text[start:end]), true
}

func (c *columns) open(path string) {
	c.close()
	c.path, c.line, c.text = path, 0, nil
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return
	}
	if c.f, err = os.Open(path); err != nil {
		return
	}
	c.r = bufio.NewReaderSize(c.f, 64<<10)
}

// next reads the next line into text, keeping at most maxColumnLine bytes.
func (c *columns) next() {
	c.buf, c.text = c.buf[:0], nil
	long := false
	for {
		part, err := c.r.ReadSlice('\n')
		if !long && len(c.buf)+len(part) <= maxColumnLine+1 {
			c.buf = append(c.buf, part...)
		} else {
			long = true
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil && (err != io.EOF || len(part) == 0 && len(c.buf) == 0) {
			c.close() // no such line: the file changed
			c.line++
			return
		}
		break
	}
	c.line++
	if !long {
		c.text = bytes.TrimSuffix(bytes.TrimSuffix(c.buf, []byte{'\n'}), []byte{'\r'})
	}
}

func (c *columns) close() {
	if c.f != nil {
		c.f.Close()
	}
	c.f, c.r = nil, nil
}

// utf16Len is the length of b in UTF-16 code units, an invalid byte
// counting one (as U+FFFD).
func utf16Len(b []byte) int {
	n := 0
	for len(b) > 0 {
		r, w := utf8.DecodeRune(b)
		b = b[w:]
		if utf16.RuneLen(r) == 2 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
