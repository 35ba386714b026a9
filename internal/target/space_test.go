package target

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// endpoints lists a space in index order, skipping covered duplicates.
func endpoints(s *Space) []string {
	var out []string
	for i := range s.Len() {
		if e, ok := s.At(i); ok {
			out = append(out, fmt.Sprintf("%s %s", e.Host, e))
		}
	}
	return out
}

func mustParse(t *testing.T, s string) Target {
	t.Helper()
	tg, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q) = %v", s, err)
	}
	return tg
}

func TestSpaceLaysOutRangesAndNames(t *testing.T) {
	var ex Exclusions
	for _, e := range []string{"127.0.0.4", "127.0.1.0/30", "skip.example"} {
		if err := ex.Add(e); err != nil {
			t.Fatalf("Exclusions.Add(%q) = %v", e, err)
		}
	}
	b := NewBuilder([]int{8123, 9000}, &ex)
	for _, s := range []string{"127.0.0.1-5", "127.0.0.3-127.0.0.6", "127.0.0.255-127.0.1.2", "127.0.0.9:9440", "[::1]:8123"} {
		if err := b.Add(mustParse(t, s)); err != nil {
			t.Fatalf("Add(%q) = %v", s, err)
		}
	}
	// A name reaching an address of a range keeps its name and is swept once.
	b.AddResolved("ch.example", netip.MustParseAddr("127.0.0.2"), 0)
	b.AddResolved("ch.example", netip.MustParseAddr("127.0.0.9"), 9440) // same as 127.0.0.9:9440
	b.AddResolved("other.example", netip.MustParseAddr("127.0.0.2"), 8123)
	if b.AddResolved("a.skip.example", netip.MustParseAddr("127.0.0.50"), 0) {
		t.Errorf("AddResolved(a.skip.example) = true, want it excluded by name")
	}
	if b.AddResolved("x.example", netip.MustParseAddr("::ffff:127.0.0.4"), 0) {
		t.Errorf("AddResolved(x.example → 127.0.0.4) = true, want it excluded by address")
	}
	s := b.Build()
	got := endpoints(s)
	want := []string{
		"127.0.0.1 127.0.0.1:8123", "127.0.0.1 127.0.0.1:9000",
		"127.0.0.3 127.0.0.3:8123", "127.0.0.3 127.0.0.3:9000",
		"127.0.0.5 127.0.0.5:8123", "127.0.0.5 127.0.0.5:9000",
		"127.0.0.6 127.0.0.6:8123", "127.0.0.6 127.0.0.6:9000",
		"127.0.0.255 127.0.0.255:8123", "127.0.0.255 127.0.0.255:9000",
		"ch.example 127.0.0.9:9440", // named by address first, then reached by name
		"::1 [::1]:8123",
		"ch.example 127.0.0.2:8123", "ch.example 127.0.0.2:9000",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Space endpoints =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// 127.0.0.4 and 127.0.1.0-2 excluded; two endpoints by name, one twice.
	if n := b.Excluded(); n != 6 {
		t.Errorf("Excluded() = %d, want 6 (127.0.0.4, 127.0.1.0-2, two names)", n)
	}
	if s.Addrs() != 6 {
		t.Errorf("Addrs() = %d, want 6", s.Addrs())
	}
}

func TestSpaceOfAWideRangeIsSmall(t *testing.T) {
	b := NewBuilder([]int{1, 2, 3, 4}, nil)
	for _, s := range []string{"10.0.0.0/8", "2001:db8::/96", "0.0.0.0/0"} {
		if err := b.Add(mustParse(t, s)); err != nil {
			t.Fatalf("Add(%q) = %v", s, err)
		}
	}
	s := b.Build()
	// 0.0.0.0/0 swallows 10.0.0.0/8; 2^32-2 + 2^32 addresses.
	if want := uint64(1<<32-2+1<<32) * 4; s.Len() != want {
		t.Errorf("Len() = %d, want %d", s.Len(), want)
	}
	for _, tc := range []struct {
		i    uint64
		want string
	}{
		{0, "0.0.0.1:1"},
		{3, "0.0.0.1:4"},
		{4, "0.0.0.2:1"},
		{(1<<32 - 3) * 4, "255.255.255.254:1"},
		{(1<<32 - 2) * 4, "[2001:db8::]:1"},
		{s.Len() - 1, "[2001:db8::ffff:ffff]:4"},
	} {
		if e, ok := s.At(tc.i); !ok || e.String() != tc.want {
			t.Errorf("At(%d) = %s, %v, want %s", tc.i, e, ok, tc.want)
		}
	}
	if err := b.Add(mustParse(t, "2001:db8::/64")); err == nil || !strings.Contains(err.Error(), "narrower range") {
		t.Errorf("Add(2001:db8::/64) = %v, want an error asking for a narrower range", err)
	}
}

// A link-local address keeps its zone to the endpoint swept, and an
// exclusion of the address holds whatever its zone.
func TestSpaceKeepsZones(t *testing.T) {
	var ex Exclusions
	ex.Add("fe80::9%eth1")
	b := NewBuilder([]int{9000}, &ex)
	for _, s := range []string{"fe80::1%lo", "[fe80::2%lo]:8123", "fe80::1%eth0", "fe80::9%lo", "fe80::9"} {
		if err := b.Add(mustParse(t, s)); err != nil {
			t.Fatalf("Add(%s) = %v", s, err)
		}
	}
	got := endpoints(b.Build())
	slices.Sort(got)
	want := []string{"fe80::1%eth0 [fe80::1%eth0]:9000", "fe80::1%lo [fe80::1%lo]:9000", "fe80::2%lo [fe80::2%lo]:8123"}
	if !slices.Equal(got, want) {
		t.Errorf("endpoints = %q, want %q", got, want)
	}
	if b.Excluded() != 2 {
		t.Errorf("excluded %d, want 2 (fe80::9 through any zone)", b.Excluded())
	}
}

func TestExclusions(t *testing.T) {
	var ex Exclusions
	for _, e := range []string{"10.0.0.0/24", "10.0.1.5-10.0.1.9", "corp.example", "::1"} {
		if err := ex.Add(e); err != nil {
			t.Fatalf("Add(%q) = %v", e, err)
		}
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{{"10.0.0.0", true}, {"10.0.0.255", true}, {"10.0.1.4", false}, {"10.0.1.5", true}, {"10.0.1.9", true}, {"10.0.1.10", false}, {"::1", true}, {"::2", false}, {"::ffff:10.0.0.7", true}} {
		if got := ex.Addr(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Addr(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	for _, tc := range []struct {
		host string
		want bool
	}{{"corp.example", true}, {"DB.Corp.Example.", true}, {"notcorp.example", false}, {"corp.example.org", false}} {
		if got := ex.Host(tc.host); got != tc.want {
			t.Errorf("Host(%s) = %v, want %v", tc.host, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, wantErr string }{
		{"10.0.0.1:80", "names a port"},
		{"bad!", `"bad!"`},
	} {
		if err := ex.Add(tc.in); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("Add(%q) = %v, want an error containing %s", tc.in, err, tc.wantErr)
		}
	}
	err := ex.Read(strings.NewReader("# office\n10.9.0.0/16\n\nnot valid!\n"), "ex.txt")
	if err == nil || !strings.Contains(err.Error(), "ex.txt:4") {
		t.Errorf("Read(bad line 4) = %v, want an error naming ex.txt:4", err)
	}
}

func FuzzSpace(f *testing.F) {
	f.Add("127.0.0.1-9", "127.0.0.4-5")
	f.Add("10.0.0.0/29", "10.0.0.0/30")
	f.Add("::1-::9", "::3")
	f.Fuzz(func(t *testing.T, in, exclude string) {
		tg, err := Parse(in)
		if err != nil || tg.Host != "" || tg.Size() > 4096 {
			return
		}
		var ex Exclusions
		if ex.Add(exclude) != nil {
			return
		}
		b := NewBuilder([]int{1, 2}, &ex)
		if err := b.Add(tg); err != nil {
			t.Fatalf("Add(%q) = %v", in, err)
		}
		s := b.Build()
		seen := map[string]bool{}
		for i := range s.Len() {
			e, ok := s.At(i)
			if !ok {
				continue
			}
			if seen[e.String()] {
				t.Fatalf("%q minus %q: endpoint %s twice", in, exclude, e)
			}
			seen[e.String()] = true
			if ex.Addr(e.IP) || e.IP.Less(tg.First) || tg.Last.Less(e.IP) {
				t.Fatalf("%q minus %q: endpoint %s excluded or outside", in, exclude, e)
			}
		}
		if uint64(len(seen))+2*b.Excluded() != 2*tg.Size() && tg.Port == 0 {
			t.Fatalf("%q minus %q: %d endpoints + 2×%d excluded, want 2×%d", in, exclude, len(seen), b.Excluded(), tg.Size())
		}
	})
}
