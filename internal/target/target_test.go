package target

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

var parseCases = []struct {
	in      string
	want    Target // Raw is filled in from in
	wantErr string // a substring of the error; "" for success
}{
	{in: "127.0.0.1", want: Target{First: ip("127.0.0.1"), Last: ip("127.0.0.1")}},
	{in: "  192.0.2.1\t", want: Target{First: ip("192.0.2.1"), Last: ip("192.0.2.1")}},
	{in: "::1", want: Target{First: ip("::1"), Last: ip("::1")}},
	{in: "2001:db8::7", want: Target{First: ip("2001:db8::7"), Last: ip("2001:db8::7")}},
	{in: "::ffff:192.0.2.1", want: Target{First: ip("192.0.2.1"), Last: ip("192.0.2.1")}},
	{in: "198.51.100.0/24", want: Target{First: ip("198.51.100.1"), Last: ip("198.51.100.254")}},
	{in: "127.1.2.3/8", want: Target{First: ip("127.0.0.1"), Last: ip("127.255.255.254")}},
	{in: "2001:db8::/32", want: Target{First: ip("2001:db8::"), Last: ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")}},
	{in: "2001:db8::1/64", want: Target{First: ip("2001:db8::"), Last: ip("2001:db8::ffff:ffff:ffff:ffff")}},
	{in: "127.0.0.1:9000", want: Target{First: ip("127.0.0.1"), Last: ip("127.0.0.1"), Port: 9000}},
	{in: "[::1]:9000", want: Target{First: ip("::1"), Last: ip("::1"), Port: 9000}},
	{in: "db.example.com:8123", want: Target{Host: "db.example.com", Port: 8123}},
	{in: "DB.Example.COM.", want: Target{Host: "db.example.com"}},
	{in: "clickhouse-01", want: Target{Host: "clickhouse-01"}},
	{in: "my_host", want: Target{Host: "my_host"}},
	{in: "localhost", want: Target{Host: "localhost"}},
	{in: "http://127.0.0.2:8123/x", want: Target{First: ip("127.0.0.2"), Last: ip("127.0.0.2"), Port: 8123}},
	{in: "https://host/", want: Target{Host: "host", Port: 443}},
	{in: "http://host", want: Target{Host: "host", Port: 80}},
	{in: "testdb://h", want: Target{Host: "h", Port: 1234}},
	{in: "TestDB://[::1]", want: Target{First: ip("::1"), Last: ip("::1"), Port: 1234}},
	{in: "tcp://[::1]", want: Target{First: ip("::1"), Last: ip("::1")}},
	{in: "HTTPS://Host.Example:9443/play?user=x", want: Target{Host: "host.example", Port: 9443}},
	{in: "ftp://h", want: Target{Host: "h"}},
	{in: "127.0.0.0/31", want: Target{First: ip("127.0.0.0"), Last: ip("127.0.0.1")}},
	{in: "255.255.255.255/32", want: Target{First: ip("255.255.255.255"), Last: ip("255.255.255.255")}},
	{in: "::ffff:10.0.0.0/104", want: Target{First: ip("10.0.0.1"), Last: ip("10.255.255.254")}},
	{in: "10.0.0.5-10.0.1.2", want: Target{First: ip("10.0.0.5"), Last: ip("10.0.1.2")}},
	{in: "10.0.0.5-40", want: Target{First: ip("10.0.0.5"), Last: ip("10.0.0.40")}},
	{in: "10.0.0.5-5", want: Target{First: ip("10.0.0.5"), Last: ip("10.0.0.5")}},
	{in: "2001:db8::1-2001:db8::ff", want: Target{First: ip("2001:db8::1"), Last: ip("2001:db8::ff")}},
	{in: "my-db.example-1.com", want: Target{Host: "my-db.example-1.com"}},
	// A link-local address keeps its zone: without it, it cannot be reached.
	{in: "fe80::1%lo", want: Target{First: ip("fe80::1%lo"), Last: ip("fe80::1%lo")}},
	{in: "[fe80::1%eth0]:9000", want: Target{First: ip("fe80::1%eth0"), Last: ip("fe80::1%eth0"), Port: 9000}},
	{in: "http://[fe80::1%252]:8123/", want: Target{First: ip("fe80::1%2"), Last: ip("fe80::1%2"), Port: 8123}},
	{in: "fe80::1%eth0/64", wantErr: `zone "eth0/64" is not an interface`},
	{in: "fe80::1%a-very-long-interface", wantErr: "is not an interface"},

	{in: "", wantErr: "empty target"},
	{in: "10.0.0.9-10.0.0.1", wantErr: `range "10.0.0.9-10.0.0.1" runs backwards`},
	{in: "10.0.0.9-3", wantErr: "runs backwards"},
	{in: "10.0.0.1-256", wantErr: `"256" is not an address`},
	{in: "10.0.0.1-::1", wantErr: "mixes IPv4 and IPv6"},
	{in: "::1-5", wantErr: `"5" is not an address`},
	{in: "10.0.0.1-", wantErr: `"" is not an address`},
	{in: "10.0.0.1-host", wantErr: `"host" is not an address`},
	{in: "   ", wantErr: "empty target"},
	{in: "999.1.1.1:99999", wantErr: `"999.1.1.1:99999"`},
	{in: "host:0", wantErr: `"host:0"`},
	{in: "host:port", wantErr: `"host:port"`},
	{in: "bad host!", wantErr: `"bad host!"`},
	{in: "http://", wantErr: `"http://"`},
	{in: "http://:8123/", wantErr: `"http://:8123/"`},
	{in: "http://h:70000/", wantErr: `"http://h:70000/"`},
	{in: "http://bad_url%zz", wantErr: `"http://bad_url%zz"`},
	{in: "127.0.0.0/33", wantErr: `"127.0.0.0/33"`},
	{in: "-lead.example.com", wantErr: `"-lead.example.com"`},
	{in: "trail-.example.com", wantErr: `"trail-.example.com"`},
	{in: "a..b", wantErr: `"a..b"`},
	{in: strings.Repeat("a", 64) + ".com", wantErr: strings.Repeat("a", 64)},
	{in: strings.Repeat("a.", 127) + "ab", wantErr: "is not an address, CIDR, hostname or URL"},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		got, err := Parse(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse(%q) = %+v, %v, want an error naming %s", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		want := tc.want
		want.Raw = tc.in
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v, want %+v", tc.in, got, err, want)
		}
	}
}

func TestParsePort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{{"1", 1}, {"8123", 8123}, {" 9000 ", 9000}, {"65535", 65535}} {
		if got, err := ParsePort(tc.in); err != nil || got != tc.want {
			t.Errorf("ParsePort(%q) = %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "0", "-1", "65536", "70000", "80a", "0x50"} {
		if got, err := ParsePort(in); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", in)) {
			t.Errorf("ParsePort(%q) = %d, %v, want an error naming %q", in, got, err, in)
		}
	}
}

// lineResult is one yield of Lines, flattened for comparison.
type lineResult struct {
	where  string
	target string // Host or Prefix, and port
	err    string // a substring of the error
}

func collectLines(t *testing.T, r io.Reader, name string) []lineResult {
	t.Helper()
	var out []lineResult
	for tg, err := range Lines(r, name) {
		if err != nil {
			out = append(out, lineResult{where: tg.Where, err: err.Error()})
			continue
		}
		s := tg.Host
		if s == "" {
			s = tg.First.String() + "-" + tg.Last.String()
		}
		out = append(out, lineResult{where: tg.Where, target: fmt.Sprintf("%s port %d", s, tg.Port)})
	}
	return out
}

func TestLines(t *testing.T) {
	in := strings.Join([]string{
		"# targets for the lab",           // 1
		"127.0.0.1",                       // 2
		"",                                // 3
		"192.0.2.0/30   # office",         // 4
		"bad!",                            // 5
		"db.example.com:9000 extra words", // 6
		"   # indented comment",           // 7
		"host:99999",                      // 8
		"\t[::1]:9440\r",                  // 9
		"#127.0.0.9",                      // 10
		"http://",                         // 11
		"https://ch.example/",             // 12
	}, "\n")
	want := []lineResult{
		{where: "t.txt:2", target: "127.0.0.1-127.0.0.1 port 0"},
		{where: "t.txt:4", target: "192.0.2.1-192.0.2.2 port 0"},
		{where: "t.txt:5", err: `t.txt:5: "bad!" is not`},
		{where: "t.txt:6", err: "t.txt:6: 3 words, want one target per line"},
		{where: "t.txt:8", err: `t.txt:8: "host:99999": port "99999"`},
		{where: "t.txt:9", target: "::1-::1 port 9440"},
		{where: "t.txt:11", err: `t.txt:11: "http://"`},
		{where: "t.txt:12", target: "ch.example port 443"},
	}
	got := collectLines(t, strings.NewReader(in), "t.txt")
	if len(got) != len(want) {
		t.Fatalf("Lines(t.txt) yielded %d results %+v, want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.where != w.where || g.target != w.target || !strings.HasPrefix(g.err, w.err) || (g.err == "") != (w.err == "") {
			t.Errorf("Lines(t.txt) result %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestLinesStopsWhenAsked(t *testing.T) {
	in := "bad!\n127.0.0.1\n127.0.0.2\n"
	n := 0
	for _, err := range Lines(strings.NewReader(in), "t.txt") {
		n++
		if err == nil {
			t.Errorf("Lines(%q) first result has no error, want one for bad!", in)
		}
		break // the iterator panics if it yields again
	}
	if n != 1 {
		t.Errorf("Lines(%q) yielded %d results before the break, want 1", in, n)
	}
}

func TestLinesReadErrors(t *testing.T) {
	t.Run("line too long", func(t *testing.T) {
		// A line over the limit once ended the list: every later target
		// was dropped, and the scan exited 0.
		in := "127.0.0.1\n" + strings.Repeat("a", 70000) + "\n127.0.0.2\n" + strings.Repeat("b", 3*MaxLine) + "\n127.0.0.3"
		got := collectLines(t, strings.NewReader(in), "big.txt")
		want := []lineResult{
			{where: "big.txt:1", target: "127.0.0.1-127.0.0.1 port 0"},
			{where: "big.txt:2", err: "big.txt:2: line longer than 64 KiB"},
			{where: "big.txt:3", target: "127.0.0.2-127.0.0.2 port 0"},
			{where: "big.txt:4", err: "big.txt:4: line longer than 64 KiB"},
			{where: "big.txt:5", target: "127.0.0.3-127.0.0.3 port 0"},
		}
		if len(got) != len(want) {
			t.Fatalf("Lines(big.txt) = %+v, want %+v", got, want)
		}
		for i := range want {
			if g, w := got[i], want[i]; g.where != w.where || g.target != w.target || !strings.HasPrefix(g.err, w.err) || (g.err == "") != (w.err == "") {
				t.Errorf("Lines(big.txt) result %d = %+v, want %+v", i, g, w)
			}
		}
	})
	t.Run("reader fails", func(t *testing.T) {
		boom := errors.New("disk on fire")
		r := io.MultiReader(strings.NewReader("127.0.0.1\n"), iotest.ErrReader(boom))
		var errs []error
		for _, err := range Lines(r, "t.txt") {
			if err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) != 1 || !errors.Is(errs[0], boom) || !strings.HasPrefix(errs[0].Error(), "t.txt: line 2: ") {
			t.Errorf("Lines on a failing reader = errors %v, want one wrapping %q, naming t.txt: line 2", errs, boom)
		}
	})
}

func byName(s string) ([]int, bool) {
	if s == "clickhouse" {
		return []int{8123, 9000}, true
	}
	return nil, false
}

func TestParsePorts(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want []int
	}{
		{"8123,9000-9002,clickhouse", []int{8123, 9000, 9001, 9002}},
		{"clickhouse,1-2", []int{8123, 9000, 1, 2}},
		{"ClickHouse", []int{8123, 9000}},
		{" 9000 , 8123,9000,", []int{9000, 8123}},
		{"1-3,2", []int{1, 2, 3}},
		{"65535", []int{65535}},
		{"7-7", []int{7}},
	} {
		got, err := ParsePorts(tc.spec, byName)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParsePorts(%q) = %v, %v, want %v", tc.spec, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ spec, wantErr string }{
		{"0", `"0"`},
		{"70000", `"70000"`},
		{"9-1", `"9-1" runs backwards`},
		{"nosuch", `"nosuch" is neither a port, a range nor a datastore name`},
		{"8123,nosuch", `"nosuch"`},
		{"", `no ports in ""`},
		{" , ", `no ports in " , "`},
		{"-5", `"-5"`},
		{"5-", `"5-"`},
		{"1-70000", `"1-70000"`},
		{"80a", `"80a"`},
	} {
		got, err := ParsePorts(tc.spec, byName)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("ParsePorts(%q) = %v, %v, want an error containing %s", tc.spec, got, err, tc.wantErr)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	f.Add("[fe80::1%eth0]:9000")
	f.Add("fe80::1%eth0/64")
	f.Add("http://[::1%25lo]:8123/")
	f.Add("::ffff:127.0.0.0/104")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if got.Raw != s {
			t.Fatalf("Parse(%q).Raw = %q, want the input", s, got.Raw)
		}
		if err != nil {
			return
		}
		if (got.Host != "") == got.First.IsValid() || got.First.IsValid() != got.Last.IsValid() {
			t.Fatalf("Parse(%q) = %+v, want a host or a range, not both or neither", s, got)
		}
		if got.Port < 0 || got.Port > 65535 {
			t.Fatalf("Parse(%q) = port %d, want 0 to 65535", s, got.Port)
		}
		if got.Host != "" && (!ValidHostname(got.Host) || got.Host != strings.ToLower(got.Host)) {
			t.Fatalf("Parse(%q) = host %q, want a lower-case valid hostname", s, got.Host)
		}
		if got.First.IsValid() && (got.Last.Less(got.First) || got.First.Is4() != got.Last.Is4() || got.First.Is4In6()) {
			t.Fatalf("Parse(%q) = range %s-%s, want it in order, one family, unmapped", s, got.First, got.Last)
		}
		if z := got.First.Zone(); got.First.IsValid() && (z != got.Last.Zone() || (z != "" && (got.First != got.Last || !ValidZone(z)))) {
			t.Fatalf("Parse(%q) = range %s-%s, want a zone only on one address, naming an interface", s, got.First, got.Last)
		}
	})
}

// FuzzLines reads arbitrary bytes as a target list: every line is either
// a target, an error naming it, or blank, and reading never stops early.
func FuzzLines(f *testing.F) {
	f.Add([]byte("127.0.0.1\n# c\nbad!\n\r\n" + strings.Repeat("x", MaxLine+1) + "\nfe80::1%lo\n"))
	f.Add([]byte("a b\n[::1]:9000"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := strings.Count(string(data), "\n") + 1
		last := 0
		for tg, err := range Lines(strings.NewReader(string(data)), "f") {
			var n int
			if _, scanErr := fmt.Sscanf(tg.Where, "f:%d", &n); scanErr != nil || n <= last || n > lines {
				t.Fatalf("result at %q (error %v) after line %d of %d, want lines in order", tg.Where, err, last, lines)
			}
			last = n
		}
	})
}

// The scheme a test driver would own: datastore.Register feeds the same
// registry from each driver's Schemes().
func init() { RegisterScheme("testdb", 1234) }

// A scheme is owned once: a second claim, or a claim of http or https
// (the URL standard's, no driver's), is a programming error.
func TestRegisterSchemeTwicePanics(t *testing.T) {
	for _, name := range []string{"testdb", "HTTP", "https"} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), strings.ToLower(name)) {
					t.Errorf("RegisterScheme(%q) twice: recovered %v, want a panic naming the scheme", name, r)
				}
			}()
			RegisterScheme(name, 1)
		}()
	}
	if p, _ := schemePort("testdb"); p != 1234 {
		t.Errorf("after the refused claims testdb means port %d, want 1234", p)
	}
}

// Schemes registered while targets are parsed (drivers register in init,
// tests at any time) are safe: run with -race.
func TestRegisterSchemeConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() { defer wg.Done(); RegisterScheme(fmt.Sprintf("race-%d", i), 1000+i) }()
		go func() { defer wg.Done(); Parse(fmt.Sprintf("race-%d://h", i)) }()
	}
	wg.Wait()
	for i := range 8 {
		if tg, err := Parse(fmt.Sprintf("race-%d://h", i)); err != nil || tg.Port != 1000+i {
			t.Errorf("Parse(race-%d://h) = port %d, %v; want %d", i, tg.Port, err, 1000+i)
		}
	}
}
