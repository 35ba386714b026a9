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
// carried whole into the next chunk: a longer one is cut where a read
// ends, and the next chunk starts again a little before the cut (see
// overlap). maxPiece is the most text scanned at once: a longer line is
// scanned in overlapping pieces. So memory stays bounded whatever the
// input. Variables only so tests can make them small.
var (
	chunkSize = 1 << 20
	maxLine   = 1 << 20
	maxPiece  = 256 << 10
)

// bufRound is what a chunk's buffer capacity is rounded up to.
const bufRound = 8 << 10

// findingsBatch is the most findings a chunk holds before handing them
// on: a chunk dense with findings waits for its turn to be written rather
// than gather them all.
const findingsBatch = 256

type chunk struct {
	firstLine int
	// firstOffset is where data starts within its first line: more than
	// zero only when a line longer than maxLine was cut.
	firstOffset int
	// cont: data starts inside a line cut at the end of the chunk before,
	// overlap bytes before that cut. cut: data ends inside a line, which
	// the next chunk continues.
	cont, cut bool
	data      []byte
	// found carries the chunk's findings in batches, in order, and is
	// closed when the chunk is scanned.
	found chan []Finding
	// counts are the values of counted kinds (CountOnly) the chunk holds,
	// read once found is closed.
	counts map[string]int64
}

// overlap is how many bytes pieces of a long line share. A match found
// around one trigger spans at most e.longest bytes; each piece reports the
// matches that start in its part of the shared bytes, at least two such
// spans from where a piece is cut, so that what a cut hides or invents is
// never reported, and each value is reported by exactly one piece.
func (e *Engine) overlap() int { return 4 * e.longest }

// ScanReader scans r line by line on every core and calls fn for each
// detection, in input order, from one goroutine. Memory is bounded by a
// few chunks per core and a few batches of findings per chunk, whatever
// the size of r and however dense its findings.
func (e *Engine) ScanReader(ctx context.Context, r io.Reader, path string, fn func(Finding)) error {
	workers := runtime.GOMAXPROCS(0)
	// Buffers are made as needed, at most 2 per worker and 2 more, and
	// recycled: that bounds memory.
	free := make(chan []byte, 2*workers+2)
	for range cap(free) {
		free <- nil
	}
	todo := make(chan *chunk, workers)
	// Chunks in input order: each holds a buffer until it is written, so
	// there are never more than buffers.
	inOrder := make(chan *chunk, cap(free))
	for range workers {
		go func() {
			for c := range todo {
				e.scanChunk(c, path)
			}
		}()
	}
	readErr := make(chan error, 1)
	go func() {
		readErr <- e.split(ctx, r, path, todo, inOrder, free)
		close(todo)
		close(inOrder)
	}()
	// Workers take chunks in order, so the oldest chunk not yet written
	// is always being scanned or done: a worker waiting for its turn to
	// hand on findings waits for chunks that progress. Keys over several
	// lines are put together here, where the chunks come in order
	// (pem.go); a chunk that may hold one is gathered whole first.
	keys := pemBlocks{e: e, path: path}
	var counts map[string]int64
	for c := range inOrder {
		if keys.open == nil && !bytes.Contains(c.data, pemNeedle) {
			for batch := range c.found {
				for _, f := range batch {
					fn(f)
				}
			}
		} else {
			var found []Finding
			gaveUp := false
			for batch := range c.found {
				if gaveUp {
					for _, f := range batch {
						fn(f)
					}
					continue
				}
				found = append(found, batch...)
				if len(found) > maxPEMHeld {
					// A chunk this dense in findings is not held whole
					// for its key blocks: they are not put together (a
					// key on one line, with \n escapes, is still found).
					var held []Finding
					keys.abandon(&held)
					for _, f := range append(held, found...) {
						fn(f)
					}
					found, gaveUp = nil, true
				}
			}
			if !gaveUp {
				for _, f := range keys.chunk(c, found) {
					fn(f)
				}
			}
		}
		counts = addCounts(counts, c.counts)
		free <- c.data[:0]
	}
	keys.flush(fn)
	err := <-readErr
	if e.countedSink != nil && len(e.counted) > 0 {
		if counts == nil {
			counts = map[string]int64{}
		}
		e.countedSink(Counted{Path: path, Context: counts})
	}
	return err
}

// maxPEMHeld bounds the findings of one chunk held back while its key
// blocks are put together: what a hostile file dense with findings can
// make a chunk hold.
var maxPEMHeld = 16384 // a variable so that tests can lower it

// split reads r into chunks that end at line ends, or inside a line
// longer than maxLine, and sends each to inOrder and todo.
func (e *Engine) split(ctx context.Context, r io.Reader, path string, todo, inOrder chan<- *chunk, free chan []byte) error {
	overlap := e.overlap()
	longLine := max(maxLine, 2*overlap) // a cut line keeps overlap bytes for the next chunk
	var carry []byte                    // the unfinished last line of the previous read
	cont := false                       // carry starts inside a line cut before
	line, partial := 1, 0
	send := func(data []byte, cut bool) {
		c := &chunk{firstLine: line, firstOffset: partial, cont: cont, cut: cut, data: data, found: make(chan []Finding, 1)}
		line += bytes.Count(data, []byte{'\n'})
		if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
			partial = len(data) - i - 1
		} else {
			partial += len(data)
		}
		if cont = cut; cut {
			partial -= overlap // the next chunk starts that much before the cut
		}
		inOrder <- c
		todo <- c
	}
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A buffer is as large as this read needs: most carry little,
		// and memory is counted by capacity. Rounded up to the 8 KiB
		// pages the allocator gives a large buffer anyway, it takes the
		// next read's carry too, as a rule: one sized to this carry
		// alone was made again, and its pages faulted in again, at about
		// every other read.
		buf := <-free
		if need := len(carry) + chunkSize; cap(buf) < need {
			buf = make([]byte, 0, (need+bufRound-1)/bufRound*bufRound)
		}
		buf = append(buf, carry...)
		n, err := io.ReadFull(r, buf[len(buf):len(buf)+chunkSize])
		buf = buf[:len(buf)+n]
		end, cut := len(buf), false
		if err == nil {
			// Keep the unfinished last line for the next chunk, unless it
			// is longer than longLine: then it is cut here.
			i := bytes.LastIndexByte(buf, '\n')
			switch {
			case i >= 0 && len(buf)-i-1 <= longLine:
				end = i + 1
			case i < 0 && len(buf) <= longLine:
				carry = append(carry[:0], buf...)
				free <- buf[:0]
				continue
			default:
				cut = true
			}
		}
		carry = append(carry[:0], buf[end:]...)
		if cut {
			carry = append(carry[:0], buf[end-overlap:]...)
		}
		if end > 0 {
			send(buf[:end], cut)
		} else {
			free <- buf[:0]
		}
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return nil
		case err != nil:
			return fmt.Errorf("%s: line %d: %w", path, line, err)
		}
	}
}

// count adds one value of a counted kind to the chunk's counts.
func (c *chunk) count(kind string) {
	if c.counts == nil {
		c.counts = map[string]int64{}
	}
	c.counts[kind]++
}

// scanChunk scans each line of a chunk and hands its findings on in
// batches, closing c.found when done.
func (e *Engine) scanChunk(c *chunk, path string) {
	defer close(c.found)
	var batch []Finding
	data := c.data
	line, offset := c.firstLine, c.firstOffset
	overlap := e.overlap()
	for first := true; len(data) > 0; first = false {
		i := bytes.IndexByte(data, '\n')
		var l []byte
		if i < 0 {
			l, data = data, nil
		} else {
			l, data = data[:i], data[i+1:]
		}
		cut := i < 0 && c.cut
		if !cut {
			l = bytes.TrimSuffix(l, []byte{'\r'})
		}
		// Of a line cut between chunks, each reports the values that
		// start on its side of the middle of the bytes both hold.
		from, to := 0, len(l)
		if first && c.cont {
			from = overlap / 2
		}
		if cut {
			to = len(l) - overlap/2
		}
		// The chunk's bytes are not changed while the line is scanned,
		// and no detection keeps a reference to them.
		e.scanOwned(unsafe.String(unsafe.SliceData(l), len(l)), from, to, c.count, func(d Detection) {
			d.Start += offset
			d.End += offset
			batch = append(batch, Finding{Path: path, Line: line, Detection: d})
			if len(batch) == findingsBatch {
				c.found <- batch
				batch = nil
			}
		})
		line++
		offset = 0
	}
	if len(batch) > 0 {
		c.found <- batch
	}
}

// scanOwned calls emit, in order, with the detections in text (a line, or
// part of one) that start in [from, to). Text longer than maxPiece is
// scanned in pieces that overlap as pieces of a cut line do (see overlap),
// so that what is held at once stays bounded.
func (e *Engine) scanOwned(text string, from, to int, count func(string), emit func(Detection)) {
	overlap := e.overlap()
	piece := max(maxPiece, 2*overlap)
	for a := 0; ; a += piece - overlap {
		b := min(a+piece, len(text))
		lo, hi := from, to
		if a > 0 {
			lo = max(lo, a+overlap/2)
		}
		if b < len(text) {
			hi = min(hi, b-overlap/2)
		}
		if lo < hi {
			ds, _ := e.scan(text[a:b], func(d Detection) {
				if s := a + d.Start; s >= lo && s < hi {
					count(d.Kind)
				}
			})
			for _, d := range ds {
				if s := a + d.Start; s >= lo && s < hi {
					d.Start += a
					d.End += a
					emit(d)
				}
			}
		}
		if b == len(text) {
			return
		}
	}
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
