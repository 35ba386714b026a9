package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/lab"
)

// endpointsOf lists a jsonl report as "host ip:port auth", sorted.
func endpointsOf(t *testing.T, jsonl string) []string {
	t.Helper()
	var out []string
	for _, f := range decodeFindings(t, jsonl) {
		out = append(out, fmt.Sprintf("%s %s:%d %s", f.Host, f.IP, f.Port, f.Auth))
	}
	slices.Sort(out)
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The lab's DNS has dev and oauth2callback.example.test both at the open
// server, and a wildcard zone: a brute force finds the open server through
// a subdomain, scans it once, and ignores the wildcard's answers.
func TestScanDiscoversSubdomains(t *testing.T) {
	requireLab(t)
	words := writeFile(t, "words.txt", "# lab words\nwww\ndev\noauth2callback\nadmin\ndata\nnothere\nBAD WORD\n")
	code, out, stderr := scanCLI(t, "example.test", "wild.test", "--resolver", lab.DNSServer(), "-w", words, "--no-sample", "-f", "jsonl")
	got := endpointsOf(t, out)
	want := []string{
		"admin.example.test 127.0.0.3:8123 required",
		"admin.example.test 127.0.0.3:9000 required",
		"data.wild.test 127.0.0.7:8123 ip-restricted",
		"data.wild.test 127.0.0.7:9000 ip-restricted",
		"dev.example.test 127.0.0.2:8123 none",
		"dev.example.test 127.0.0.2:9000 none",
	}
	if !slices.Equal(got, want) {
		t.Errorf("scan example.test wild.test = \n%s\nwant\n%s\nstderr:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), stderr)
	}
	if code != exitFindings {
		t.Errorf("exit code %d, want %d (an open server)", code, exitFindings)
	}
	for _, s := range []string{
		"wild.test: wildcard DNS (any name answers 127.0.0.9)",
		"example.test: 4 subdomains found of 6 names tried: admin.example.test, dev.example.test, oauth2callback.example.test, www.example.test",
		"wild.test: 1 subdomain found of 6 names tried: data.wild.test",
		`skipped 1 lines that are not DNS labels, the first at ` + words + `:8 ("bad word")`,
	} {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
}

// The built-in wordlist finds the 2025 leak's own subdomains.
func TestScanBuiltinWordlist(t *testing.T) {
	requireLab(t)
	_, out, stderr := scanCLI(t, "example.test", "--resolver", lab.DNSServer(), "--no-sample", "-f", "jsonl", "-p", "8123")
	got := endpointsOf(t, out)
	if !slices.Contains(got, "dev.example.test 127.0.0.2:8123 none") {
		t.Errorf("scan example.test with the built-in list = %q, want dev.example.test's open server\nstderr:\n%s", got, stderr)
	}
	if !strings.Contains(stderr, "oauth2callback.example.test") {
		t.Errorf("stderr does not name oauth2callback.example.test as found:\n%s", stderr)
	}
}

func TestScanExclusions(t *testing.T) {
	requireLab(t)
	exFile := writeFile(t, "ex.txt", "# never\n127.0.0.6-127.0.0.7\n")
	_, out, stderr := scanCLI(t, "127.0.0.0/29", "example.test", "--resolver", lab.DNSServer(), "--no-brute",
		"--exclude", "127.0.0.3,admin.example.test", "--exclude", "127.0.0.5", "--exclude-file", exFile, "--no-sample", "-f", "jsonl",
		// 127.0.0.1 is the machine's, not the lab's: its own PostgreSQL or
		// MariaDB may answer there on their default ports.
		"--exclude", "127.0.0.1")
	got := endpointsOf(t, out)
	want := []string{"127.0.0.2 127.0.0.2:8123 none", "127.0.0.2 127.0.0.2:9000 none"}
	if !slices.Equal(got, want) {
		t.Errorf("scan with exclusions = %q, want only 127.0.0.2\nstderr:\n%s", got, stderr)
	}
	// example.test itself points at the excluded 127.0.0.5.
	if !strings.Contains(stderr, "excluded") {
		t.Errorf("summary does not count exclusions:\n%s", stderr)
	}
	code, _, stderr := scanCLI(t, "127.0.0.2", "--exclude", "10.0.0.1:80")
	if code != exitError || !strings.Contains(stderr, `"10.0.0.1:80" names a port`) {
		t.Errorf("--exclude with a port = exit %d, %q; want exit %d and an error naming it", code, stderr, exitError)
	}
}

// Three machines, each given the same targets and seed and its own
// --shard, together find exactly what one finds, each endpoint once.
func TestScanShardsPartitionTheTargets(t *testing.T) {
	requireLab(t)
	// 127.0.0.1 is the machine's, not the lab's (its own PostgreSQL,
	// MariaDB and Redis answer there).
	args := []string{"127.0.0.0/29", "--exclude", "127.0.0.1", "--no-sample", "-f", "jsonl", "--seed", "42"}
	_, whole, _ := scanCLI(t, args...)
	want := endpointsOf(t, whole)
	if len(want) < 6 {
		t.Fatalf("whole scan found %q, want the lab's servers", want)
	}
	var union []string
	for i := 1; i <= 3; i++ {
		_, out, _ := scanCLI(t, append(args, "--shard", fmt.Sprintf("%d/3", i))...)
		union = append(union, endpointsOf(t, out)...)
	}
	slices.Sort(union)
	if !slices.Equal(union, want) {
		t.Errorf("union of 3 shards =\n%s\nwant the whole scan\n%s", strings.Join(union, "\n"), strings.Join(want, "\n"))
	}
	if code, _, stderr := scanCLI(t, "127.0.0.2", "--shard", "1/2"); code != exitError || !strings.Contains(stderr, "needs --seed") {
		t.Errorf("--shard without --seed = exit %d, %q; want an error asking for --seed", code, stderr)
	}
	if code, _, stderr := scanCLI(t, "127.0.0.2", "--shard", "3/2", "--seed", "1"); code != exitError || !strings.Contains(stderr, `"3/2" is not I/N`) {
		t.Errorf("--shard 3/2 = exit %d, %q; want an error", code, stderr)
	}
}

// buildLeakhound builds the command once per test binary, for tests that
// must kill a real process.
func buildLeakhound(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "leakhound")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// A scan killed with SIGKILL at random moments and resumed each time
// reports, in the end, exactly what an uninterrupted scan reports: no
// finding lost, none repeated.
func TestScanResumesAfterSIGKILL(t *testing.T) {
	requireLab(t)
	bin := buildLeakhound(t)
	dir := t.TempDir()
	args := func(out, journal string) []string {
		// ClickHouse's four ports (about 1016 endpoints): the other
		// engines' ports would make each run longer, not the test harder;
		// 127.0.0.1 is the machine's, not the lab's.
		a := []string{"scan", "127.0.0.0/24", "example.test", "--resolver", lab.DNSServer(), "-w", writeFile(t, "w.txt", "dev\nadmin\ndata\n"),
			"-p", "clickhouse", "--exclude", "127.0.0.1", "--rate", "400", "--no-sample", "-f", "jsonl", "-o", out, "-q"}
		if journal != "" {
			a = append(a, "--resume", journal)
		}
		return a
	}
	full := filepath.Join(dir, "full.jsonl")
	if out, err := exec.Command(bin, args(full, "")...).CombinedOutput(); err != nil && !isExit(err, exitFindings) {
		t.Fatalf("uninterrupted scan: %v\n%s", err, out)
	}
	want := readEndpoints(t, full)

	out, journal := filepath.Join(dir, "resumed.jsonl"), filepath.Join(dir, "resume.log")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for run := 0; ; run++ {
		cmd := exec.Command(bin, args(out, journal)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if run < 4 {
			// 1016 endpoints at 400/s: about 2.5 s for a whole run.
			delay := time.Duration(100+rng.IntN(900)) * time.Millisecond
			select {
			case err := <-done:
				t.Logf("run %d finished before its kill at %s: %v", run, delay, err)
				goto finished
			case <-time.After(delay):
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				kills++
				continue
			}
		}
		if err := <-done; err != nil && !isExit(err, exitFindings) {
			t.Fatalf("resumed run %d: %v\n%s", run, err, stderr.String())
		}
		break
	}
finished:
	t.Logf("%d kills before the scan completed", kills)
	got := readEndpoints(t, out)
	if !slices.Equal(got, want) {
		t.Errorf("after %d kills and resumes, findings =\n%s\nwant (uninterrupted)\n%s", kills, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func isExit(err error, code int) bool {
	ee, ok := err.(*exec.ExitError)
	return ok && ee.ExitCode() == code
}

// readEndpoints lists a jsonl file's findings as host ip:port, keeping
// duplicates, sorted.
func readEndpoints(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return endpointsOf(t, b.String())
}
