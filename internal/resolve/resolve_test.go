package resolve

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/leakhound/leakhound/internal/lab"
)

func TestLookupAgainstLabDNS(t *testing.T) {
	if !lab.Enabled() {
		t.Skip("the lab is not up: run scripts/test")
	}
	r := &Resolver{Server: lab.DNSServer()}
	ctx := context.Background()
	ips, err := r.LookupNetIP(ctx, "ip", "dev.example.test")
	if err != nil || !slices.Equal(ips, []netip.Addr{netip.MustParseAddr(lab.Open.Host)}) {
		t.Errorf("LookupNetIP(dev.example.test) = %v, %v, want [%s]", ips, err, lab.Open.Host)
	}
	if _, err := r.LookupNetIP(ctx, "ip", "nothere.example.test"); !errors.Is(err, ErrNoSuchHost) {
		t.Errorf("LookupNetIP(nothere.example.test) = %v, want ErrNoSuchHost", err)
	}
	wc, err := r.DetectWildcard(ctx, lab.WildDomain)
	if err != nil || !slices.Equal(wc.Addrs, []netip.Addr{netip.MustParseAddr(lab.WildAddr)}) {
		t.Errorf("DetectWildcard(wild.test) = %v, %v, want [%s]", wc, err, lab.WildAddr)
	}
	if wc, err := r.DetectWildcard(ctx, lab.Domain); err != nil || len(wc.Addrs) != 0 {
		t.Errorf("DetectWildcard(example.test) = %v, %v, want none", wc, err)
	}
	var found []string
	tried, failed, err := r.Brute(ctx, lab.WildDomain, slices.Values([]string{"data", "www", "x"}), 4, wc, func(name string, _ []netip.Addr) {
		found = append(found, name)
	})
	if err != nil || tried != 3 || failed != 0 || !slices.Equal(found, []string{"data.wild.test"}) {
		t.Errorf("Brute(wild.test) = found %v, tried %d, failed %d, %v; want only data.wild.test", found, tried, failed, err)
	}
}

// fakeDNS answers every UDP query with what answer makes of it; it stands
// for a hostile or broken server.
func fakeDNS(t *testing.T, answer func(q []byte) [][]byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, a := range answer(append([]byte(nil), buf[:n]...)) {
				pc.WriteTo(a, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// reply builds an answer to query q with the given rcode and A records.
func reply(t *testing.T, q []byte, rcode dnsmessage.RCode, ips ...string) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		t.Error(err)
		return nil
	}
	qs, _ := p.AllQuestions()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: rcode})
	b.StartQuestions()
	for _, qq := range qs {
		b.Question(qq)
	}
	b.StartAnswers()
	for _, s := range ips {
		if qs[0].Type != dnsmessage.TypeA {
			break
		}
		b.AResource(dnsmessage.ResourceHeader{Name: qs[0].Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: netip.MustParseAddr(s).As4()})
	}
	msg, _ := b.Finish()
	return msg
}

func TestHostileServers(t *testing.T) {
	ctx := context.Background()
	t.Run("garbage, then a spoofed id, then the answer", func(t *testing.T) {
		srv := fakeDNS(t, func(q []byte) [][]byte {
			spoof := reply(t, q, dnsmessage.RCodeSuccess, "10.9.9.9")
			spoof[0] ^= 0xff
			return [][]byte{[]byte("\x00garbage"), spoof, reply(t, q, dnsmessage.RCodeSuccess, "127.0.0.2")}
		})
		r := &Resolver{Server: srv, Timeout: time.Second}
		ips, err := r.LookupNetIP(ctx, "ip4", "a.test")
		if err != nil || !slices.Equal(ips, []netip.Addr{netip.MustParseAddr("127.0.0.2")}) {
			t.Errorf("LookupNetIP = %v, %v, want [127.0.0.2] and the spoof ignored", ips, err)
		}
	})
	t.Run("silence", func(t *testing.T) {
		srv := fakeDNS(t, func([]byte) [][]byte { return nil })
		r := &Resolver{Server: srv, Timeout: 100 * time.Millisecond, Retries: 1}
		start := time.Now()
		_, err := r.LookupNetIP(ctx, "ip", "a.test")
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !strings.Contains(err.Error(), "resolving a.test through "+srv) {
			t.Errorf("LookupNetIP on a silent server = %v, want a timeout naming the name and server", err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("a silent server took %s, want two tries of 100ms", el)
		}
	})
	t.Run("refused", func(t *testing.T) {
		srv := fakeDNS(t, func(q []byte) [][]byte { return [][]byte{reply(t, q, dnsmessage.RCodeRefused)} })
		r := &Resolver{Server: srv, Timeout: time.Second}
		if _, err := r.LookupNetIP(ctx, "ip", "a.test"); err == nil || !strings.Contains(err.Error(), "Refused") {
			t.Errorf("LookupNetIP on a refusing server = %v, want an error saying refused", err)
		}
	})
	t.Run("brute force on a dead resolver", func(t *testing.T) {
		srv := fakeDNS(t, func(q []byte) [][]byte { return [][]byte{reply(t, q, dnsmessage.RCodeServerFailure)} })
		r := &Resolver{Server: srv, Timeout: 100 * time.Millisecond, Retries: -1}
		_, failed, err := r.Brute(ctx, "a.test", slices.Values([]string{"x", "y"}), 2, Wildcard{}, func(string, []netip.Addr) {})
		if err == nil || failed != 2 {
			t.Errorf("Brute on a failing resolver = %d failed, %v; want both failed and an error", failed, err)
		}
	})
}

func TestWords(t *testing.T) {
	words, bad, first, err := Words(strings.NewReader("Dev\n# c\n\nwww # home\nbad word\n-x\neu.api\ndev\n"), "w.txt")
	if err != nil || !slices.Equal(words, []string{"dev", "www", "eu.api"}) || bad != 2 || first != `w.txt:5 ("bad word")` {
		t.Errorf("Words = %q, %d bad, first %q, %v", words, bad, first, err)
	}
	n := 0
	for w := range Builtin() {
		if !validLabels(w) {
			t.Errorf("built-in word %q is not a DNS label", w)
		}
		n++
	}
	if n < 1000 {
		t.Errorf("built-in list has %d words, want at least 1000", n)
	}
}

func FuzzParse(f *testing.F) {
	q := dnsmessage.Question{Name: dnsmessage.MustNewName("a.test."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	msg, _ := build(7, q)
	f.Add(msg)
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, Response: true})
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET}, dnsmessage.AResource{A: [4]byte{127, 0, 0, 2}})
	ans, _ := b.Finish()
	f.Add(ans)
	f.Fuzz(func(t *testing.T, data []byte) {
		ips, _, err := Parse(data, 7, q)
		if err == nil && (len(ips) == 0 || len(ips) > 257) {
			t.Fatalf("Parse = %d addresses and no error", len(ips))
		}
	})
}
