package classify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"unsafe"
)

// Finding is a detection in a file: the line (1-based) and byte offsets
// within that line, as the classify output contract says.
type Finding struct {
	Path string `json:"path"`
	Line int    `json:"line"`
	Detection
}

// chunkSize is how much input one worker scans at a time; a chunk ends at
// a line end, so no value is cut in two. maxLine is the longest line
// scanned whole; a longer one is scanned in pieces, so memory stays bounded
// whatever the input. Variables only so tests can make them small.
var (
	chunkSize = 1 << 20
	maxLine   = 1 << 20
)

type chunk struct {
	seq       int
	firstLine int
	// firstOffset is where data starts within its first line: more than
	// zero only when a line longer than maxLine was cut into pieces.
	firstOffset int
	data        []byte
	found       []Finding
}

// ScanReader scans r line by line on every core and calls fn for each
// detection, in input order, from one goroutine. Memory is bounded by a
// few chunks per core, whatever the size of r.
func (e *Engine) ScanReader(ctx context.Context, r io.Reader, path string, fn func(Finding)) error {
	workers := runtime.GOMAXPROCS(0)
	todo := make(chan *chunk, workers)
	done := make(chan *chunk, workers)
	// Buffers are made as needed, at most 2 per worker and 2 more, and
	// recycled: that bounds memory.
	free := make(chan []byte, 2*workers+2)
	for range cap(free) {
		free <- nil
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range todo {
				c.found = e.scanChunk(c, path)
				done <- c
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		readErr <- e.split(ctx, r, path, todo, free)
		close(todo)
		wg.Wait()
		close(done)
	}()
	// Emit in order: chunks finish out of order. Keys over several lines
	// are put together here, where the chunks come in order (pem.go).
	pending := map[int]*chunk{}
	next := 0
	keys := pemBlocks{e: e, path: path}
	for c := range done {
		pending[c.seq] = c
		for {
			c, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			for _, f := range keys.chunk(c) {
				fn(f)
			}
			free <- c.data[:0]
		}
	}
	keys.flush(fn)
	return <-readErr
}

// split reads r into chunks that end at line ends and sends them to todo.
func (e *Engine) split(ctx context.Context, r io.Reader, path string, todo chan<- *chunk, free chan []byte) error {
	var carry []byte // the unfinished last line of the previous read
	line, seq, partial := 1, 0, 0
	send := func(data []byte) {
		c := &chunk{seq: seq, firstLine: line, firstOffset: partial, data: data}
		seq++
		line += bytes.Count(data, []byte{'\n'})
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			partial = len(data) - i - 1
		} else {
			partial += len(data)
		}
		todo <- c
	}
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		buf := <-free
		if buf == nil {
			buf = make([]byte, 0, chunkSize+maxLine)
		}
		buf = append(buf, carry...)
		n, err := io.ReadFull(r, buf[len(buf):len(buf)+chunkSize])
		buf = buf[:len(buf)+n]
		end := len(buf)
		if err == nil {
			// Keep the unfinished last line for the next chunk, unless it
			// is longer than maxLine: then it is cut here.
			if i := bytes.LastIndexByte(buf, '\n'); i >= 0 && len(buf)-i-1 <= maxLine {
				end = i + 1
			} else if i < 0 && len(buf) <= maxLine {
				carry = append(carry[:0], buf...)
				free <- buf[:0]
				continue
			}
		}
		carry = append(carry[:0], buf[end:]...)
		if end > 0 {
			send(buf[:end])
		} else {
			free <- buf[:0]
		}
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			if len(carry) > 0 {
				b := <-free
				send(append(b, carry...)) // append makes a nil buffer
			}
			return nil
		case err != nil:
			return fmt.Errorf("%s: line %d: %w", path, line, err)
		}
	}
}

// scanChunk scans each line of a chunk.
func (e *Engine) scanChunk(c *chunk, path string) []Finding {
	var out []Finding
	data := c.data
	line := c.firstLine
	offset := c.firstOffset
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		var l []byte
		if i < 0 {
			l, data = data, nil
		} else {
			l, data = data[:i], data[i+1:]
		}
		l = bytes.TrimSuffix(l, []byte{'\r'})
		// The chunk's bytes are not changed while the line is scanned,
		// and no detection keeps a reference to them.
		for _, d := range e.Scan(unsafe.String(unsafe.SliceData(l), len(l))) {
			d.Start += offset
			d.End += offset
			out = append(out, Finding{Path: path, Line: line, Detection: d})
		}
		line++
		offset = 0
	}
	return out
}

// ScanPath scans a file, or every regular file below a directory. An
// unreadable file is reported to warn and the walk goes on.
func (e *Engine) ScanPath(ctx context.Context, root string, fn func(Finding), warn func(error)) error {
	// A path the user names is followed if it is a link; links met inside
	// a directory are not, so that a walk cannot loop or leave the tree.
	if resolved, err := filepath.EvalSymlinks(root); err == nil && resolved != root {
		st, err := os.Stat(resolved)
		if err == nil && st.Mode().IsRegular() {
			return e.scanFile(ctx, resolved, root, fn, warn)
		}
		if err == nil && st.IsDir() {
			root = resolved
		}
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			warn(err)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			warn(fmt.Errorf("%s: skipped: not a regular file", path))
			return nil
		}
		return e.scanFile(ctx, path, path, fn, warn)
	})
}

// scanFile scans one file, reported under the name the user knows it by.
func (e *Engine) scanFile(ctx context.Context, path, name string, fn func(Finding), warn func(error)) error {
	f, err := os.Open(path)
	if err != nil {
		warn(err)
		return nil
	}
	defer f.Close()
	if err := e.ScanReader(ctx, f, name, fn); err != nil {
		warn(err)
	}
	return nil
}
