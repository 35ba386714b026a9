package sweep

import (
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestProgressMark(t *testing.T) {
	p := NewProgress(10)
	steps := []uint64{11, 13, 10, 12, 200, 14}
	marks := []uint64{10, 10, 12, 14, 14, 15}
	for i, s := range steps {
		if got := p.Finish(s); got != marks[i] {
			t.Errorf("Finish(%d) = mark %d, want %d", s, got, marks[i])
		}
	}
	for s := uint64(15); s < 200; s++ {
		p.Finish(s)
	}
	if got := p.Mark(); got != 201 {
		t.Errorf("Mark() = %d after every step to 200, want 201", got)
	}
	if len(p.words) > 1 {
		t.Errorf("%d words kept after the mark passed them, want at most 1", len(p.words))
	}
}

func TestJournalRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resume.log")
	h := Header{Seed: 7, Shard: Shard{I: 2, N: 3}, Ports: "8123,9000", Exclude: "none"}
	j, err := OpenJournal(path, h)
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("127.0.0.2")
	for _, err := range []error{
		j.BeginBatch(0, "d0"), j.Name(0, "dev.example.test", []netip.Addr{ip}), j.Named(0),
		j.Done(0, 5, "high"), j.Mark(0, 3), j.Done(0, 9, ""), j.Mark(0, 6), j.End(0),
		j.BeginBatch(1, "d1"), j.Done(1, 2, "critical"), j.Done(1, 3, "high"),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	// A torn last line, as a crash mid-write would leave.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("mark 1 9")
	f.Close()

	if got, ok, err := PeekHeader(path); err != nil || !ok || got != h {
		t.Fatalf("PeekHeader = %+v, %v, %v, want %+v", got, ok, err, h)
	}
	j, err = OpenJournal(path, h)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	b0, b1 := j.Batch(0), j.Batch(1)
	if b0 == nil || !b0.End || !b0.Named || b0.Mark != 6 || !slices.Equal(b0.Names["dev.example.test"], []netip.Addr{ip}) || !b0.Done[9] || b0.Done[5] {
		t.Errorf("batch 0 = %+v, want ended, named, mark 6, done {9}", b0)
	}
	if b1 == nil || b1.End || b1.Mark != 0 || !b1.Done[2] {
		t.Errorf("batch 1 = %+v, want mark 0 (the torn mark ignored), done {2}", b1)
	}
	// A resumed scan's exit status must count what earlier runs found.
	if got, want := j.Found(), map[string]int{"high": 2, "critical": 1}; !maps.Equal(got, want) || j.Legacy {
		t.Errorf("Found() = %v (legacy %v), want %v", got, j.Legacy, want)
	}
	if err := j.BeginBatch(1, "other"); err == nil || !strings.Contains(err.Error(), "targets of batch 1 differ") {
		t.Errorf("BeginBatch(1, other digest) = %v, want an error saying the targets differ", err)
	}
	if err := j.Mark(1, 4); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(data), "mark 1 9\nmark 1 4\n") {
		t.Errorf("journal ends %q, want the torn line ended and the new record on its own line", data[max(len(data)-30, 0):])
	}

	other := h
	other.Seed = 8
	if _, err := OpenJournal(path, other); err == nil || !strings.Contains(err.Error(), "different scan") {
		t.Errorf("OpenJournal with another seed = %v, want an error saying a different scan wrote it", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.log")
	os.WriteFile(bad, []byte(h.String()+"\nmark 0 1\n"), 0o600)
	if _, err := OpenJournal(bad, h); err == nil || !strings.Contains(err.Error(), "bad.log:2") {
		t.Errorf("OpenJournal(record before its batch) = %v, want an error naming bad.log:2", err)
	}
	os.WriteFile(bad, []byte("hello\n"), 0o600)
	if _, _, err := PeekHeader(bad); err == nil || !strings.Contains(err.Error(), "not a leakhound resume file") {
		t.Errorf("PeekHeader(not a journal) = %v, want an error saying so", err)
	}
}

func TestJournalRefusesWhatCannotHoldState(t *testing.T) {
	h := Header{Seed: 7, Shard: Shard{I: 1, N: 1}, Ports: "9000", Exclude: "none"}
	for _, path := range []string{os.DevNull, t.TempDir()} {
		if _, err := OpenJournal(path, h); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("OpenJournal(%s) = %v, want an error saying it is not a regular file", path, err)
		}
		if _, _, err := PeekHeader(path); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("PeekHeader(%s) = %v, want an error saying it is not a regular file", path, err)
		}
	}
}

// A journal of version 1 recorded no severities: it is still read, and
// says so.
func TestJournalReadsVersion1(t *testing.T) {
	h := Header{Seed: 7, Shard: Shard{I: 1, N: 1}, Ports: "9000", Exclude: "none"}
	path := filepath.Join(t.TempDir(), "old.log")
	os.WriteFile(path, []byte("leakhound-resume 1 seed=7 shard=1/1 ports=9000 exclude=none\nbatch 0 x\ndone 0 3\nmark 0 2\n"), 0o600)
	if got, ok, err := PeekHeader(path); err != nil || !ok || got != h {
		t.Fatalf("PeekHeader(version 1) = %+v, %v, %v, want %+v", got, ok, err, h)
	}
	j, err := OpenJournal(path, h)
	if err != nil {
		t.Fatalf("OpenJournal(version 1) = %v", err)
	}
	defer j.Close()
	if !j.Legacy || len(j.Found()) != 0 || !j.Batch(0).Done[3] {
		t.Errorf("version 1 journal: legacy %v, found %v, batch %+v; want legacy, nothing found, step 3 done", j.Legacy, j.Found(), j.Batch(0))
	}
}

func FuzzJournal(f *testing.F) {
	h := Header{Seed: 1, Shard: Shard{I: 1, N: 1}, Ports: "1", Exclude: "none"}
	f.Add([]byte(h.String() + "\nbatch 0 x\nname 0 a.b 127.0.0.1,::1\nnamed 0\ndone 0 3\nmark 0 2\nend 0\n"))
	f.Add([]byte(h.String() + "\nbatch 0 x\nmark 0 18446744073709551615\n"))
	f.Add([]byte(h.String() + "\nbatch 0 x\ndone 0 3 high\ndone 0 4 Hi!\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "j")
		os.WriteFile(path, data, 0o600)
		j, err := OpenJournal(path, h)
		if err == nil {
			j.Close()
		}
	})
}
