package sweep

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
)

// A Journal is the file --resume names: an append-only log of how far a
// scan got, written so that a scan killed at any moment (SIGKILL included)
// and run again with the same file neither repeats nor loses an endpoint.
// Each record is one line written with one write(2), so the kernel holds
// it the moment the call returns:
//
//	leakhound-resume 2 seed=7 shard=1/1 ports=8123,9000 exclude=…
//	batch 0 <digest of the batch's targets>
//	name 0 dev.example.test 127.0.0.2,::1     names resolved in batch 0 …
//	named 0                                   … and the list is complete
//	done 0 17                                 step 17 finished (an open port, reported)
//	done 0 21 high                            step 21 finished, its finding of severity high written
//	mark 0 4096                               every step below 4096 finished
//	end 0                                     batch 0 finished
//
// A step is recorded done only after what it found was written out, so a
// finding is never lost; a closed port is covered by the next mark, so at
// most the last fraction of a second of closed ports is tried again. The
// severities of findings let a resumed scan's exit status count them all.
// Version 1 journals, which recorded no severity, are still read.
type Journal struct {
	mu      sync.Mutex
	f       *os.File
	path    string
	Header  Header
	batches map[int]*BatchState
	found   map[string]int // findings of earlier runs, by severity
	// Legacy says the journal was begun by a version that recorded no
	// severity: findings of its earlier runs are not in Found.
	Legacy bool
}

// journalVersion is written in the header of every new journal.
const journalVersion = 2

// Header is what must match for a scan to resume another.
type Header struct {
	Seed    uint64
	Shard   Shard
	Ports   string
	Exclude string
}

func (h Header) String() string {
	return fmt.Sprintf("leakhound-resume %d seed=%d shard=%d/%d ports=%s exclude=%s", journalVersion, h.Seed, h.Shard.I, h.Shard.N, h.Ports, h.Exclude)
}

// BatchState is what the journal knows of one batch.
type BatchState struct {
	Digest string
	Names  map[string][]netip.Addr
	Named  bool // Names is every name the batch resolved
	Mark   uint64
	Done   map[uint64]bool // steps at or above Mark already finished
	End    bool
}

// PeekHeader reads the header of an existing journal, to take its seed; ok
// is false when there is no journal yet.
func PeekHeader(path string) (h Header, ok bool, err error) {
	if err := regular(path); err != nil {
		return h, false, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return h, false, nil
	}
	if err != nil {
		return h, false, err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		if line == "" && errors.Is(err, io.EOF) {
			return h, false, nil
		}
		return h, false, fmt.Errorf("%s: not a leakhound resume file", path)
	}
	h, _, err = parseHeader(strings.TrimSuffix(line, "\n"))
	if err != nil {
		return h, false, fmt.Errorf("%s:1: %w", path, err)
	}
	return h, true, nil
}

// regular refuses a resume file that is not a regular file (/dev/null,
// a pipe, a directory): it could not hold what the scan did, and the next
// run would repeat it all. A file not yet made is fine.
func regular(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file (%s): a resume file must keep what the scan did; name a file", path, st.Mode().Type())
	}
	return nil
}

func parseHeader(line string) (Header, int, error) {
	var h Header
	f := strings.Fields(line)
	if len(f) < 3 || f[0] != "leakhound-resume" || (f[1] != "1" && f[1] != "2") {
		return h, 0, fmt.Errorf("not a leakhound resume file (version 1 or %d)", journalVersion)
	}
	version := int(f[1][0] - '0')
	for _, kv := range f[2:] {
		k, v, _ := strings.Cut(kv, "=")
		var err error
		switch k {
		case "seed":
			h.Seed, err = strconv.ParseUint(v, 10, 64)
		case "shard":
			i, n, _ := strings.Cut(v, "/")
			h.Shard.I, err = strconv.ParseUint(i, 10, 64)
			if err == nil {
				h.Shard.N, err = strconv.ParseUint(n, 10, 64)
			}
		case "ports":
			h.Ports = v
		case "exclude":
			h.Exclude = v
		}
		if err != nil {
			return h, 0, fmt.Errorf("bad %s in header: %q", k, v)
		}
	}
	return h, version, nil
}

// OpenJournal opens or creates the journal at path for a scan with header
// h. An existing journal must have been written by a scan with the same
// header; its records tell the scan what to skip.
func OpenJournal(path string, h Header) (*Journal, error) {
	j := &Journal{path: path, Header: h, batches: map[int]*BatchState{}, found: map[string]int{}}
	if err := regular(path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	fresh := len(data) == 0
	if !fresh {
		if err := j.load(data); err != nil {
			return nil, err
		}
	}
	j.f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if fresh {
		if err := j.write(h.String()); err != nil {
			j.f.Close()
			return nil, err
		}
	} else if data[len(data)-1] != '\n' {
		// A torn last line (a crash mid-write, not a kill): end it so the
		// next record starts on its own line; load skipped it.
		if err := j.write(""); err != nil {
			j.f.Close()
			return nil, err
		}
	}
	return j, nil
}

func (j *Journal) load(data []byte) error {
	lines := strings.Split(string(data), "\n")
	if !strings.HasSuffix(string(data), "\n") {
		lines = lines[:len(lines)-1] // torn
	}
	if len(lines) == 0 {
		return fmt.Errorf("%s: not a leakhound resume file", j.path)
	}
	h, version, err := parseHeader(lines[0])
	if err != nil {
		return fmt.Errorf("%s:1: %w", j.path, err)
	}
	j.Legacy = version < 2
	if h != j.Header {
		return fmt.Errorf("%s was written by a different scan (%s; this scan is %s): use the same targets and flags, or another file", j.path, h, j.Header)
	}
	for i, line := range lines[1:] {
		if line == "" {
			continue
		}
		if err := j.apply(line); err != nil {
			return fmt.Errorf("%s:%d: %w", j.path, i+2, err)
		}
	}
	return nil
}

func (j *Journal) apply(line string) error {
	f := strings.Fields(line)
	if len(f) < 2 {
		return fmt.Errorf("unreadable record %q", line)
	}
	k, err := strconv.Atoi(f[1])
	if err != nil || k < 0 {
		return fmt.Errorf("unreadable record %q", line)
	}
	b := j.batches[k]
	if b == nil && f[0] != "batch" {
		return fmt.Errorf("record %q before its batch", line)
	}
	num := func() (uint64, error) {
		if len(f) != 3 {
			return 0, fmt.Errorf("unreadable record %q", line)
		}
		return strconv.ParseUint(f[2], 10, 64)
	}
	switch f[0] {
	case "batch":
		if len(f) != 3 {
			return fmt.Errorf("unreadable record %q", line)
		}
		j.batches[k] = &BatchState{Digest: f[2], Names: map[string][]netip.Addr{}, Done: map[uint64]bool{}}
	case "name":
		if len(f) != 4 {
			return fmt.Errorf("unreadable record %q", line)
		}
		var ips []netip.Addr
		for _, s := range strings.Split(f[3], ",") {
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return fmt.Errorf("unreadable address in %q", line)
			}
			ips = append(ips, ip)
		}
		b.Names[f[2]] = ips
	case "named":
		b.Named = true
	case "done":
		if len(f) == 4 {
			// The severity of the finding made at this step.
			if !lowerWord(f[3]) {
				return fmt.Errorf("unreadable record %q", line)
			}
			j.found[f[3]]++
			f = f[:3]
		}
		n, err := num()
		if err != nil {
			return err
		}
		b.Done[n] = true
	case "mark":
		n, err := num()
		if err != nil {
			return err
		}
		if n > b.Mark {
			b.Mark = n
			for s := range b.Done {
				if s < n {
					delete(b.Done, s)
				}
			}
		}
	case "end":
		b.End = true
	default:
		return fmt.Errorf("unknown record %q", line)
	}
	return nil
}

// Batch returns what the journal knows of batch k, nil if nothing.
func (j *Journal) Batch(k int) *BatchState {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.batches[k]
}

// BeginBatch records batch k and its digest, or checks the digest against
// the one recorded.
func (j *Journal) BeginBatch(k int, digest string) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	b := j.batches[k]
	j.mu.Unlock()
	if b != nil {
		if b.Digest != digest {
			return fmt.Errorf("%s: the targets of batch %d differ from those recorded; resume with the same targets, or use another file", j.path, k)
		}
		return nil
	}
	j.mu.Lock()
	j.batches[k] = &BatchState{Digest: digest, Names: map[string][]netip.Addr{}, Done: map[uint64]bool{}}
	j.mu.Unlock()
	return j.write(fmt.Sprintf("batch %d %s", k, digest))
}

// Name records the addresses host resolved to in batch k.
func (j *Journal) Name(k int, host string, ips []netip.Addr) error {
	if j == nil || len(ips) == 0 {
		return nil
	}
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return j.write(fmt.Sprintf("name %d %s %s", k, host, strings.Join(s, ",")))
}

// Named records that batch k's names are all recorded.
func (j *Journal) Named(k int) error { return j.record("named %d", k) }

// Done records that step of batch k is finished, and the severity of the
// finding it made, if any ("" if none).
func (j *Journal) Done(k int, step uint64, severity string) error {
	if severity == "" {
		return j.record("done %d %d", k, step)
	}
	if !lowerWord(severity) {
		return fmt.Errorf("resume file %s: severity %q is not a word", j.path, severity)
	}
	return j.record("done %d %d %s", k, step, severity)
}

// Found counts the findings the journal's earlier runs made, by severity.
func (j *Journal) Found() map[string]int {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make(map[string]int, len(j.found))
	for k, v := range j.found {
		out[k] = v
	}
	return out
}

func lowerWord(s string) bool {
	for _, c := range s {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return s != ""
}

// Mark records that every step of batch k below w is finished.
func (j *Journal) Mark(k int, w uint64) error { return j.record("mark %d %d", k, w) }

// End records that batch k is finished.
func (j *Journal) End(k int) error {
	if j == nil {
		return nil
	}
	j.mu.Lock()
	if b := j.batches[k]; b != nil {
		b.End = true
	}
	j.mu.Unlock()
	return j.record("end %d", k)
}

func (j *Journal) record(format string, args ...any) error {
	if j == nil {
		return nil
	}
	return j.write(fmt.Sprintf(format, args...))
}

func (j *Journal) write(line string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, err := j.f.WriteString(line + "\n"); err != nil {
		return fmt.Errorf("resume file %s: %w", j.path, err)
	}
	return nil
}

// Stat describes the journal's file, so that a caller can tell whether a
// file it would write is this one under another name.
func (j *Journal) Stat() (os.FileInfo, error) { return j.f.Stat() }

// Close closes the journal file.
func (j *Journal) Close() error {
	if j == nil {
		return nil
	}
	return j.f.Close()
}

// Progress follows which steps of one batch are finished, in any order,
// and knows the mark: the first step not yet finished. Its memory is one
// bit per step between the mark and the furthest step finished.
type Progress struct {
	mu    sync.Mutex
	base  uint64   // the step of bit 0 of words[0]
	words []uint64 // finished steps from base on
}

// NewProgress starts at mark: every step below it is finished.
func NewProgress(mark uint64) *Progress { return &Progress{base: mark} }

// Finish records step s finished and returns the mark.
func (p *Progress) Finish(s uint64) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s >= p.base {
		i := s - p.base
		for uint64(len(p.words))*64 <= i {
			p.words = append(p.words, 0)
		}
		p.words[i/64] |= 1 << (i % 64)
		n := 0
		for n < len(p.words) && p.words[n] == ^uint64(0) {
			n++
		}
		if n > 0 {
			// Slicing forward is O(1); append reallocates when the backing
			// array runs out, which drops the finished words behind.
			p.words = p.words[n:]
			p.base += uint64(n) * 64
		}
	}
	return p.markLocked()
}

// Mark returns the first step not yet finished.
func (p *Progress) Mark() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.markLocked()
}

func (p *Progress) markLocked() uint64 {
	if len(p.words) == 0 {
		return p.base
	}
	m := p.base
	for _, w := range p.words {
		if w != ^uint64(0) {
			for w&1 == 1 {
				w >>= 1
				m++
			}
			return m
		}
		m += 64
	}
	return m
}
