package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// The lab's DNS server: Debian's dnsmasq on loopback at a port of its own,
// answering only for its zones and forwarding nothing.
//
// In example.test, dev and oauth2callback (the names of the 2025 leak) both
// point at the open server, so a brute force finds it twice over and it
// must be scanned once; www points at the nginx that only says "Ok.", and
// admin at the locked server. wild.test answers every name with an address
// where nothing listens, except data.wild.test, the restricted server.
const (
	DNSHost    = "127.0.0.1"
	DNSPort    = 15353
	Domain     = "example.test"
	WildDomain = "wild.test"
	// WildAddr is wild.test's answer for any name; nothing listens there.
	WildAddr = "127.0.0.9"
)

// DNSRecords are the lab's names and their addresses.
var DNSRecords = map[string]string{
	"example.test":                WebHost,
	"dev.example.test":            Open.Host,
	"oauth2callback.example.test": Open.Host,
	"www.example.test":            WebHost,
	"admin.example.test":          Locked.Host,
	"data.wild.test":              Restricted.Host,
}

// DNSServer is host:port of the lab's resolver.
func DNSServer() string { return net.JoinHostPort(DNSHost, fmt.Sprint(DNSPort)) }

func dnsArgs(dir string) []string {
	args := []string{
		"--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--no-poll",
		fmt.Sprintf("--port=%d", DNSPort), "--listen-address=" + DNSHost, "--bind-interfaces",
		"--pid-file=" + filepath.Join(dir, "dnsmasq.pid"),
		"--log-facility=" + filepath.Join(dir, "dnsmasq.log"),
		"--local=/" + Domain + "/", "--local=/" + WildDomain + "/",
		"--address=/" + WildDomain + "/" + WildAddr,
	}
	for name, addr := range DNSRecords {
		args = append(args, "--host-record="+name+","+addr)
	}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root") // keep access to the pid and log files
	}
	return args
}

func startDNS(ctx context.Context, logf Logf) error {
	dir := filepath.Join(Dir(), "dns")
	if dnsAnswers(ctx) {
		logf("dns: already running on %s", DNSServer())
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		bin = "/usr/sbin/dnsmasq"
	}
	if out, err := exec.CommandContext(ctx, bin, dnsArgs(dir)...).CombinedOutput(); err != nil {
		return fmt.Errorf("dnsmasq: %v: %s", err, out)
	}
	logf("dns: dnsmasq answering for %s and %s on %s", Domain, WildDomain, DNSServer())
	for range 50 {
		if dnsAnswers(ctx) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("dnsmasq did not answer")
}

// dnsAnswers asks the lab's resolver for dev.example.test.
func dnsAnswers(ctx context.Context) bool {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", DNSServer())
	}}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ips, err := r.LookupHost(ctx, "dev."+Domain)
	return err == nil && len(ips) > 0 && ips[0] == Open.Host
}
