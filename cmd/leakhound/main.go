// Command leakhound finds datastores anyone on the network can read, proves
// it without changing anything, and measures what leaks.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	_ "github.com/leakhound/leakhound/internal/datastore/all" // registers every driver
	"github.com/leakhound/leakhound/internal/report"
	"github.com/leakhound/leakhound/internal/resolve"
	"github.com/leakhound/leakhound/internal/scan"
	"github.com/leakhound/leakhound/internal/sweep"
	"github.com/leakhound/leakhound/internal/target"
)

// Exit codes (README, "Exit status").
const (
	exitClean    = scan.ExitClean
	exitFindings = scan.ExitFindings
	exitError    = scan.ExitError
)

const usage = `usage: leakhound scan [flags] TARGET...
       leakhound classify [flags] [PATH|-]...
       leakhound version

Run "leakhound scan -h" or "leakhound classify -h" for flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(exitError)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal stops the command, which writes what it found; a
	// second one, once the default action is back, kills it at once.
	context.AfterFunc(ctx, stop)
	var code int
	switch os.Args[1] {
	case "scan":
		code = runScan(ctx, os.Args[2:], os.Stdout, os.Stderr)
	case "classify":
		code = runClassify(ctx, os.Args[2:], os.Stdin, os.Stdout, os.Stderr)
	case "version", "--version":
		fmt.Println("leakhound " + report.Version)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "leakhound: unknown command %q\n%s", os.Args[1], usage)
		code = exitError
	}
	os.Exit(code)
}

const ipFindingsHelp = "report each IP address found as a detection; by default addresses are counted as context (per table in scan, per file in classify)"

const fingerprintKeyHelp = "hex key (at least 16 bytes) of the keyed fingerprints; share one to compare fingerprints across machines (default: $" + classify.KeyEnv + ", else a key made on first use and kept in <user config dir>/leakhound/fingerprint.key)"

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, as in "leakhound scan 127.0.0.4 -p 18123".
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		ports, format, output, list, failOn, colour string
		excludeFile, resumeFile, shardSpec          string
		openFile, maxMemory                         string
		resolver, wordlist, seedSpec                string
		excludes                                    listFlag
		timeout, connectTimeout, budget             time.Duration
		concurrency, perHost, rate, retries         int
		assessConcurrency                           int
		dnsWorkers                                  int
		sampleRows, randomRows                      int
		maxRead                                     int64
		noSample, noBrute, quiet                    bool
		fingerprintKey                              string
	)
	str := func(p *string, short, long, def, help string) {
		fs.StringVar(p, long, def, help)
		if short != "" {
			fs.StringVar(p, short, def, "short for --"+long)
		}
	}
	str(&ports, "p", "ports", "", "ports to sweep: list, ranges, or datastore names (8123,9000-9010,clickhouse); default: every driver's ports")
	str(&format, "f", "format", "text", "output format: "+strings.Join(report.Formats, ", "))
	str(&output, "o", "output", "", "write findings to this file instead of standard output")
	str(&list, "l", "list", "", "read more targets from this file, one per line (- for standard input)")
	str(&failOn, "", "fail-on", "high", "exit 1 when a finding is at or above this severity (info, low, medium, high, critical)")
	str(&colour, "", "color", "auto", "colour text output: auto, always, never")
	fs.Var(&excludes, "exclude", "never touch these addresses, CIDRs, ranges or names (comma-separated; may be repeated)")
	str(&excludeFile, "", "exclude-file", "", "never touch the addresses, CIDRs, ranges or names in this file, one per line")
	str(&openFile, "", "open", "", "also write every open endpoint (ip:port, one per line, as found) to this file, datastore or not")
	str(&resumeFile, "", "resume", "", "record progress in this file, and skip what it says is done: a scan killed at any moment resumes where it stopped")
	str(&shardSpec, "", "shard", "", "sweep only slice I of N (I/N) of every batch; give every machine the same targets and --seed")
	str(&seedSpec, "", "seed", "", "seed of the sweep order (default: random, printed at the end; a resume file keeps its own)")
	str(&resolver, "", "resolver", "", "DNS server (host[:port]) for every name and for subdomain discovery (default: the system's)")
	str(&wordlist, "w", "wordlist", "", "subdomain words to try under each domain named (default: the built-in list)")
	fs.BoolVar(&noBrute, "no-brute", false, "resolve the domains named, but do not search for their subdomains")
	fs.IntVar(&dnsWorkers, "dns-workers", 50, "DNS queries in flight at once")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "deadline of each probe and each query")
	fs.DurationVar(&connectTimeout, "connect-timeout", 2*time.Second, "deadline of each TCP connect in the sweep")
	fs.IntVar(&retries, "retries", 1, "further tries of a connect that got no answer")
	fs.DurationVar(&budget, "server-budget", 2*time.Minute, "most time spent assessing one server")
	fs.IntVar(&concurrency, "concurrency", 256, "connects in flight at once")
	fs.IntVar(&assessConcurrency, "assess-concurrency", 32, "open ports probed and assessed at once")
	str(&maxMemory, "", "max-memory", "1G", "memory the sessions open at once may hold (512M, 2G): at most this / 64M sessions at once")
	fs.IntVar(&perHost, "per-host", 8, "connects in flight to one address")
	fs.IntVar(&rate, "rate", 2000, "connects started per second, retries included (0: no limit)")
	fs.IntVar(&sampleRows, "sample-rows", 20, "rows fetched per pre-filter keyword per table")
	fs.IntVar(&randomRows, "random-rows", 100, "rows fetched at random per table")
	fs.Int64Var(&maxRead, "max-read", 16<<20, "bytes read back per table at most")
	fs.BoolVar(&noSample, "no-sample", false, "stop after the inventory: read no rows")
	fs.BoolVar(&quiet, "q", false, "no progress or summary on standard error")
	fs.StringVar(&fingerprintKey, "fingerprint-key", "", fingerprintKeyHelp)
	var ipFindings bool
	fs.BoolVar(&ipFindings, "ip-findings", false, ipFindingsHelp)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitClean
		}
		return exitError
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "leakhound: "+format+"\n", args...)
		return exitError
	}
	threshold, err := assess.ParseSeverity(failOn)
	if err != nil {
		return fail("--fail-on: %v", err)
	}
	memory, err := scan.ParseMemory(maxMemory)
	if err != nil {
		return fail("--max-memory: %v", err)
	}
	// The sessions' budget is counted as they read; the collector is told of
	// it too (with room for the sweep and the reports), so what hostile
	// servers sent is freed before the process grows past it.
	debug.SetMemoryLimit(memory + 256<<20)
	if assessConcurrency < 1 {
		return fail("--assess-concurrency %d: want at least 1", assessConcurrency)
	}
	portList := scan.DefaultPorts()
	if ports != "" {
		portList, err = target.ParsePorts(ports, driverPorts)
		if err != nil {
			return fail("--ports: %v", err)
		}
	}
	if len(pos) == 0 && list == "" {
		return fail("scan needs a TARGET (an IP, CIDR, range, hostname, host:port or URL) or -l FILE")
	}
	ex, err := exclusions(excludes, excludeFile)
	if err != nil {
		return fail("%v", err)
	}
	shard, err := sweep.ParseShard(shardSpec)
	if err != nil {
		return fail("--shard: %v", err)
	}
	seed, seedGiven, err := parseSeed(seedSpec)
	if err != nil {
		return fail("--seed: %v", err)
	}
	if resumeFile != "" && output != "" && report.IsDocument(format) {
		// A resumed scan appends to -o; a document appended to is not one.
		return fail("--resume appends to -o %s, and a %s document cannot be appended to: use -f jsonl, or write the document to standard output", output, format)
	}
	if resumeFile != "" && !seedGiven {
		h, ok, err := sweep.PeekHeader(resumeFile)
		if err != nil {
			return fail("--resume: %v", err)
		}
		if ok {
			seed, seedGiven = h.Seed, true
		}
	}
	if shard.N > 1 && !seedGiven {
		return fail("--shard %s needs --seed: every machine must order the endpoints alike", shardSpec)
	}
	engine := classify.Default()
	if !ipFindings {
		engine = engine.CountOnly(classify.ContextKinds, nil)
	}
	if !noSample {
		// Only what is sampled is fingerprinted: an inventory needs no key.
		key, err := classify.LoadKey(fingerprintKey, func(s string) { fmt.Fprintf(stderr, "leakhound: %s\n", s) })
		if err != nil {
			return fail("%v", err)
		}
		engine = engine.WithKey(key)
	}
	cfg := scan.Config{
		Ports: portList, ConnectTimeout: connectTimeout, Timeout: timeout, ServiceBudget: budget,
		Concurrency: concurrency, PerHost: perHost, Rate: rate, Retries: retries, NoSample: noSample,
		AssessConcurrency: assessConcurrency, MaxMemory: memory,
		Sample:     datastore.Limits{Rows: sampleRows, Random: randomRows, Bytes: maxRead},
		Engine:     engine,
		Seed:       seed,
		Shard:      shard,
		Exclude:    ex,
		Resolver:   net.DefaultResolver,
		DNSWorkers: dnsWorkers,
		Progress:   new(scan.Progress),
	}
	if err := dnsConfig(&cfg, resolver, wordlist, noBrute, stderr); err != nil {
		return fail("%v", err)
	}
	if resumeFile != "" {
		h := sweep.Header{Seed: seed, Shard: shard, Ports: joinInts(portList), Exclude: exclusionDigest(ex)}
		j, err := sweep.OpenJournal(resumeFile, h)
		if err != nil {
			return fail("--resume: %v", err)
		}
		defer j.Close()
		cfg.Journal = j
	}

	out := stdout
	isTTY := isTerminal(stdout)
	// Files written must not be the resume file, a file read (the target
	// list, the exclusions, the wordlist), nor each other, by any name (a
	// symlink, a hard link): appending findings to the journal would
	// corrupt it, and -o targets.txt would empty the list it reads. An
	// output is truncated only once it is known to be none of them.
	written := map[string]os.FileInfo{}
	for flag, path := range map[string]string{"-l": list, "--exclude-file": excludeFile, "-w": wordlist} {
		if path == "" || path == "-" {
			continue
		}
		if st, err := os.Stat(path); err == nil {
			written[flag] = st
		}
	}
	if cfg.Journal != nil {
		st, err := cfg.Journal.Stat()
		if err != nil {
			return fail("--resume: %v", err)
		}
		written["--resume"] = st
	}
	if output != "" {
		file, err := os.OpenFile(output, os.O_WRONLY|os.O_CREATE|outputMode(resumeFile), 0o644)
		if err != nil {
			return fail("%v", err)
		}
		defer file.Close()
		if other := sameFileAs(file, written); other != "" {
			return fail("-o %s is the file of %s: name another", output, other)
		}
		if err := startOutput(file, resumeFile); err != nil {
			return fail("-o: %v", err)
		}
		if st, err := file.Stat(); err == nil {
			written["-o"] = st
		}
		out, isTTY = file, false
	}
	useColour := colour == "always" || (colour == "auto" && isTTY && os.Getenv("NO_COLOR") == "")
	w, err := report.New(format, out, useColour)
	if err != nil {
		return fail("--format: %v", err)
	}
	targets, closeList, err := scanTargets(pos, list)
	if err != nil {
		return fail("%v", err)
	}
	defer closeList()

	if openFile != "" {
		f, err := os.OpenFile(openFile, os.O_WRONLY|os.O_CREATE|outputMode(resumeFile), 0o644)
		if err != nil {
			return fail("--open: %v", err)
		}
		defer f.Close()
		if other := sameFileAs(f, written); other != "" {
			return fail("--open %s is the file of %s: name another", openFile, other)
		}
		if err := startOutput(f, resumeFile); err != nil {
			return fail("--open: %v", err)
		}
		var mu sync.Mutex
		cfg.OpenPort = func(e target.Endpoint) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintln(f, e)
		}
	}
	term := report.NewTerminal(stderr)
	showProgress := !quiet && isTerminal(stderr)
	cfg.Warn = func(err error) { term.Printf("leakhound: %s\n", report.Safe(err.Error())) }
	cfg.Note = func(s string) {
		if !quiet {
			term.Printf("leakhound: %s\n", report.Safe(s))
		}
	}
	stopProgress := func() {}
	if showProgress {
		stopProgress = drawProgress(term, cfg.Progress)
	}
	var writeErr error
	start := time.Now()
	sum, err := scan.Run(ctx, cfg, targets, func(f *assess.Finding) {
		term.Do(func() {
			if err := w.Write(f); err != nil && writeErr == nil {
				writeErr = err
			}
		})
	})
	stopProgress()
	if err != nil {
		return fail("%v", err)
	}
	if err := w.Close(); err != nil && writeErr == nil {
		writeErr = err
	}
	if !quiet {
		var extra []string
		if sum.Names > 0 {
			extra = append(extra, fmt.Sprintf("%d names resolved (%d discovered)", sum.Names, sum.Discovered))
		}
		if sum.Excluded > 0 {
			extra = append(extra, fmt.Sprintf("%d excluded", sum.Excluded))
		}
		if sum.Resumed > 0 {
			extra = append(extra, fmt.Sprintf("%d already done per %s", sum.Resumed, resumeFile))
		}
		if sum.Skipped > 0 {
			extra = append(extra, fmt.Sprintf("%d skipped", sum.Skipped))
		}
		services := fmt.Sprintf("%d datastore services", sum.Findings)
		if sum.Earlier > 0 {
			services += fmt.Sprintf(" (and %d found by earlier runs)", sum.Earlier)
		}
		fmt.Fprintf(stderr, "leakhound: %d targets, %s%d endpoints swept, %d open, %s (highest: %s), %d errors, in %s; seed %#x\n",
			sum.Targets, prefixed(extra), sum.Probed, sum.Open, services, highest(sum), sum.Errors, time.Since(start).Round(time.Millisecond), seed)
	}
	if writeErr != nil {
		return fail("writing findings: %v", writeErr)
	}
	return sum.Exit(threshold, ctx.Err() != nil)
}

// sameFileAs names the flag in files whose file f is, or "".
func sameFileAs(f *os.File, files map[string]os.FileInfo) string {
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	for flag, g := range files {
		if os.SameFile(st, g) {
			return flag
		}
	}
	return ""
}

func prefixed(parts []string) string {
	if len(parts) == 0 {
		return ""
	}
	return strings.Join(parts, ", ") + ", "
}

// outputMode appends to -o FILE when resuming, so what the first run wrote
// stays; otherwise the file starts empty.
func outputMode(resume string) int {
	if resume != "" {
		return os.O_APPEND
	}
	return 0 // truncated by startOutput, once known to be no other file
}

// startOutput empties an output file, unless resuming (outputMode).
func startOutput(f *os.File, resume string) error {
	if resume != "" {
		return nil
	}
	return f.Truncate(0)
}

// drawProgress redraws the progress line four times a second until stopped.
func drawProgress(term *report.Terminal, p *scan.Progress) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case now := <-t.C:
				term.Draw(now, report.Status{Done: p.Finished.Load(), Total: p.Total.Load(), Open: p.Sweep.Open.Load(), Findings: p.Findings.Load()})
			case <-quit:
				term.Clear()
				return
			}
		}
	}()
	return func() { close(quit); <-done }
}

// listFlag is a flag that may be repeated, each value a comma-separated list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func exclusions(list []string, file string) (*target.Exclusions, error) {
	ex := new(target.Exclusions)
	for _, s := range list {
		if err := ex.Add(s); err != nil {
			return nil, fmt.Errorf("--exclude: %w", err)
		}
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--exclude-file: %w", err)
		}
		defer f.Close()
		if err := ex.Read(f, file); err != nil {
			return nil, fmt.Errorf("--exclude-file: %w", err)
		}
	}
	return ex, nil
}

func exclusionDigest(ex *target.Exclusions) string {
	if ex.Len() == 0 {
		return "none"
	}
	sum := sha256.Sum256([]byte(ex.String()))
	return hex.EncodeToString(sum[:8])
}

// parseSeed reads --seed, decimal or 0x hex. The default is a random
// 32-bit seed, printed in hex: a long decimal run in a log is what card,
// phone and id detectors (ours included) look for.
func parseSeed(spec string) (uint64, bool, error) {
	if spec == "" {
		var b [4]byte
		_, _ = rand.Read(b[:])
		return uint64(binary.LittleEndian.Uint32(b[:])), false, nil
	}
	n, err := strconv.ParseUint(spec, 0, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%q is not a non-negative integer (decimal or 0x hex)", spec)
	}
	return n, true, nil
}

// dnsConfig sets where names are resolved and how subdomains are found.
func dnsConfig(cfg *scan.Config, server, wordlist string, noBrute bool, stderr io.Writer) error {
	var r *resolve.Resolver
	if server != "" {
		addr := server
		if _, _, err := net.SplitHostPort(server); err != nil {
			addr = net.JoinHostPort(server, "53")
		}
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return fmt.Errorf("--resolver %q: want an address and optional port, such as 127.0.0.1:5353", server)
		}
		r = &resolve.Resolver{Server: ap.String()}
		cfg.Resolver = r
	}
	if wordlist != "" {
		f, err := os.Open(wordlist)
		if err != nil {
			return fmt.Errorf("-w: %w", err)
		}
		defer f.Close()
		words, bad, firstBad, err := resolve.Words(f, wordlist)
		if err != nil {
			return fmt.Errorf("-w: %w", err)
		}
		if bad > 0 {
			fmt.Fprintf(stderr, "leakhound: -w: skipped %d lines that are not DNS labels, the first at %s\n", bad, report.Safe(firstBad))
		}
		if len(words) == 0 {
			return fmt.Errorf("-w %s: no words", wordlist)
		}
		cfg.Words = words
	}
	if noBrute {
		return nil
	}
	if r == nil {
		// Discovery needs a server to ask; the system's first nameserver.
		srv, err := resolve.SystemServer("/etc/resolv.conf")
		if err != nil {
			fmt.Fprintf(stderr, "leakhound: subdomains will not be searched: %v (give --resolver)\n", err)
			return nil
		}
		r = &resolve.Resolver{Server: srv}
	}
	cfg.Brute = r
	return nil
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func highest(s scan.Summary) string {
	if s.Findings+s.Earlier == 0 {
		return "none"
	}
	return s.Highest.String()
}

// driverPorts resolves a datastore name in a port list to its default ports.
func driverPorts(name string) ([]int, bool) {
	d, ok := datastore.Lookup(name)
	if !ok {
		return nil, false
	}
	var out []int
	for _, p := range d.DefaultPorts() {
		out = append(out, p.Number)
	}
	return out, true
}

// scanTargets chains the targets named on the command line with those of
// the -l file.
func scanTargets(args []string, list string) (iter.Seq2[target.Target, error], func(), error) {
	var r io.Reader
	closeFn := func() {}
	name := list
	switch list {
	case "":
	case "-":
		r, name = os.Stdin, "standard input"
	default:
		f, err := os.Open(list)
		if err != nil {
			return nil, nil, fmt.Errorf("-l: %w", err)
		}
		if st, err := f.Stat(); err != nil || st.IsDir() {
			f.Close()
			return nil, nil, fmt.Errorf("-l %s: not a file of targets", list)
		}
		r, closeFn = f, func() { f.Close() }
	}
	seq := func(yield func(target.Target, error) bool) {
		for i, a := range args {
			t, err := target.Parse(a)
			t.Where = fmt.Sprintf("argument %d", i+1)
			if err != nil {
				err = fmt.Errorf("%s: %w", t.Where, err)
			}
			if !yield(t, err) {
				return
			}
		}
		if r != nil {
			for t, err := range target.Lines(r, name) {
				if !yield(t, err) {
					return
				}
			}
		}
	}
	return seq, closeFn, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
