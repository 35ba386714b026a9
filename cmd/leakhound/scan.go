package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/leakhound/leakhound/internal/assess"
	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/report"
	"github.com/leakhound/leakhound/internal/scan"
	"github.com/leakhound/leakhound/internal/sweep"
	"github.com/leakhound/leakhound/internal/target"
	"github.com/spf13/cobra"
)

// scanFlags holds the flags of "leakhound scan".
type scanFlags struct {
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
	ipFindings                                  bool
}

const scanExample = `  leakhound scan 127.0.0.2
  leakhound scan 127.0.0.4 -p 18123,19000
  leakhound scan 127.0.0.0/29 -f jsonl -o findings.jsonl
  leakhound scan example.test --resolver 127.0.0.1:15353
  leakhound scan 127.0.0.0/16 --exclude 127.0.0.1 --resume sweep.log --no-sample`

// newScanCmd returns "leakhound scan", which sets *code to its exit status.
//
// A flag is one line in its group below: the group sets the place of its
// help.
func newScanCmd(code *int, stdout, stderr io.Writer) *cobra.Command {
	var o scanFlags
	cmd := &cobra.Command{
		Use:   "scan [flags] TARGET...",
		Short: "Find open datastores, prove what they let anyone read, and size what leaks",
		Long: `Find datastores anyone on the network can read, prove it without changing anything,
size what leaks and say how to close it.

TARGET is an IP, CIDR, range (10.0.0.5-40), hostname, host:port, [v6]:port or URL;
flags may come before, between or after the targets.`,
		Example: scanExample,
		Args:    cobra.ArbitraryArgs,
		// Targets are addresses and names, not files (-l names the file).
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, targets []string) error {
			*code = o.run(cmd.Context(), targets, stdout, stderr)
			return nil
		},
	}
	g := newFlagGroups(cmd)

	in := g.add("INPUT")
	in.StringVarP(&o.list, "list", "l", "", "read more targets from `FILE`, one per line (- for standard input)")
	in.Var(&o.excludes, "exclude", "never touch these addresses, CIDRs, ranges or names (a comma-separated `LIST`; may be repeated)")
	in.StringVar(&o.excludeFile, "exclude-file", "", "never touch the addresses, CIDRs, ranges or names in `FILE`, one per line")

	ports := g.add("PORTS")
	ports.StringVarP(&o.ports, "ports", "p", "", "ports to sweep, a `LIST` of ports, ranges or datastore names (8123,9000-9010,clickhouse); default: every driver's ports")

	disc := g.add("DISCOVERY")
	disc.StringVar(&o.resolver, "resolver", "", "DNS server `HOST[:PORT]` for every name and for subdomain discovery (default: the system's)")
	disc.StringVarP(&o.wordlist, "wordlist", "w", "", "subdomain words to try under each domain named, one per line of `FILE` (default: the built-in list)")
	disc.BoolVar(&o.noBrute, "no-brute", false, "resolve the domains named, but do not search for their subdomains")
	disc.IntVar(&o.dnsWorkers, "dns-workers", 50, "DNS queries in flight at once")

	rate := g.add("RATE AND TIMEOUTS")
	rate.IntVar(&o.rate, "rate", 2000, "connects started per second, retries included (0: no limit)")
	rate.IntVar(&o.concurrency, "concurrency", 256, "connects in flight at once")
	rate.IntVar(&o.perHost, "per-host", 8, "connects in flight to one address")
	rate.IntVar(&o.assessConcurrency, "assess-concurrency", 32, "open ports probed and assessed at once")
	rate.IntVar(&o.retries, "retries", 1, "further tries of a connect that got no answer")
	rate.DurationVar(&o.connectTimeout, "connect-timeout", 2*time.Second, "deadline of each TCP connect in the sweep")
	rate.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of each probe and each query")
	rate.DurationVar(&o.budget, "server-budget", 2*time.Minute, "most time spent assessing one server")
	rate.StringVar(&o.maxMemory, "max-memory", "1G", "`SIZE` of the memory the sessions open at once may hold (512M, 2G): at most SIZE / 64M sessions at once")

	sample := g.add("SAMPLING")
	sample.BoolVar(&o.noSample, "no-sample", false, "stop after the inventory: read no rows")
	sample.IntVar(&o.sampleRows, "sample-rows", 20, "rows fetched per pre-filter keyword per table")
	sample.IntVar(&o.randomRows, "random-rows", 100, "rows fetched at random per table")
	sample.Int64Var(&o.maxRead, "max-read", 16<<20, "bytes read back per table at most")

	detect := g.add("DETECTION")
	detect.StringVar(&o.fingerprintKey, "fingerprint-key", "", fingerprintKeyHelp)
	detect.BoolVar(&o.ipFindings, "ip-findings", false, ipFindingsHelp)

	out := g.add("OUTPUT")
	out.StringVarP(&o.format, "format", "f", "text", "output `FORMAT`: "+strings.Join(report.Formats, ", "))
	out.StringVarP(&o.output, "output", "o", "", "write findings to `FILE` instead of standard output")
	out.StringVar(&o.openFile, "open", "", "also write every open endpoint (ip:port, one per line, as found) to `FILE`, datastore or not")
	out.StringVar(&o.failOn, "fail-on", "high", "exit 1 when a finding is at or above this `SEVERITY` (info, low, medium, high, critical)")
	out.StringVar(&o.colour, "color", "auto", "colour text output `WHEN`: auto, always or never")
	out.BoolVarP(&o.quiet, "quiet", "q", false, "no progress or summary on standard error")

	state := g.add("RESUME AND SHARDING")
	state.StringVar(&o.resumeFile, "resume", "", "record progress in `FILE`, and skip what it says is done: a scan killed at any moment resumes where it stopped")
	state.StringVar(&o.shardSpec, "shard", "", "sweep only slice `I/N` (I of N) of every batch; give every machine the same targets and --seed")
	state.StringVar(&o.seedSpec, "seed", "", "`N`, the seed of the sweep order, decimal or 0x hex (default: random, printed at the end; a resume file keeps its own)")

	g.attach()
	completeWith(cmd, "format", report.Formats...)
	completeWith(cmd, "fail-on", "info", "low", "medium", "high", "critical")
	completeWith(cmd, "color", "auto", "always", "never")
	_ = cmd.RegisterFlagCompletionFunc("ports", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return driverNames(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// run scans the targets named on the command line (and in -l) and
// returns the exit status.
func (o *scanFlags) run(ctx context.Context, pos []string, stdout, stderr io.Writer) int {
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "leakhound: "+format+"\n", args...)
		return exitError
	}
	threshold, err := assess.ParseSeverity(o.failOn)
	if err != nil {
		return fail("--fail-on: %v", err)
	}
	memory, err := scan.ParseMemory(o.maxMemory)
	if err != nil {
		return fail("--max-memory: %v", err)
	}
	// The sessions' budget is counted as they read; the collector is told of
	// it too (with room for the sweep and the reports), so what hostile
	// servers sent is freed before the process grows past it.
	debug.SetMemoryLimit(memory + 256<<20)
	if o.assessConcurrency < 1 {
		return fail("--assess-concurrency %d: want at least 1", o.assessConcurrency)
	}
	portList := scan.DefaultPorts()
	if o.ports != "" {
		portList, err = target.ParsePorts(o.ports, driverPorts)
		if err != nil {
			return fail("--ports: %v", err)
		}
	}
	if len(pos) == 0 && o.list == "" {
		return fail("scan needs a TARGET (an IP, CIDR, range, hostname, host:port or URL) or -l FILE")
	}
	ex, err := exclusions(o.excludes, o.excludeFile)
	if err != nil {
		return fail("%v", err)
	}
	shard, err := sweep.ParseShard(o.shardSpec)
	if err != nil {
		return fail("--shard: %v", err)
	}
	seed, seedGiven, err := parseSeed(o.seedSpec)
	if err != nil {
		return fail("--seed: %v", err)
	}
	if o.resumeFile != "" && o.output != "" && report.IsDocument(o.format) {
		// A resumed scan appends to -o; a document appended to is not one.
		return fail("--resume appends to -o %s, and a %s document cannot be appended to: use -f jsonl, or write the document to standard output", o.output, o.format)
	}
	if o.resumeFile != "" && !seedGiven {
		h, ok, err := sweep.PeekHeader(o.resumeFile)
		if err != nil {
			return fail("--resume: %v", err)
		}
		if ok {
			seed, seedGiven = h.Seed, true
		}
	}
	if shard.N > 1 && !seedGiven {
		return fail("--shard %s needs --seed: every machine must order the endpoints alike", o.shardSpec)
	}
	engine := classify.Default()
	if !o.ipFindings {
		engine = engine.CountOnly(classify.ContextKinds, nil)
	}
	if !o.noSample {
		// Only what is sampled is fingerprinted: an inventory needs no key.
		key, err := classify.LoadKey(o.fingerprintKey, func(s string) { fmt.Fprintf(stderr, "leakhound: %s\n", s) })
		if err != nil {
			return fail("%v", err)
		}
		engine = engine.WithKey(key)
	}
	cfg := scan.Config{
		Ports: portList, ConnectTimeout: o.connectTimeout, Timeout: o.timeout, ServiceBudget: o.budget,
		Concurrency: o.concurrency, PerHost: o.perHost, Rate: o.rate, Retries: o.retries, NoSample: o.noSample,
		AssessConcurrency: o.assessConcurrency, MaxMemory: memory,
		Sample:     datastore.Limits{Rows: o.sampleRows, Random: o.randomRows, Bytes: o.maxRead},
		Engine:     engine,
		Seed:       seed,
		Shard:      shard,
		Exclude:    ex,
		Resolver:   net.DefaultResolver,
		DNSWorkers: o.dnsWorkers,
		Progress:   new(scan.Progress),
	}
	if err := dnsConfig(&cfg, o.resolver, o.wordlist, o.noBrute, stderr); err != nil {
		return fail("%v", err)
	}
	if o.resumeFile != "" {
		h := sweep.Header{Seed: seed, Shard: shard, Ports: joinInts(portList), Exclude: exclusionDigest(ex)}
		j, err := sweep.OpenJournal(o.resumeFile, h)
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
	for flag, path := range map[string]string{"-l": o.list, "--exclude-file": o.excludeFile, "-w": o.wordlist} {
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
	if o.output != "" {
		file, err := os.OpenFile(o.output, os.O_WRONLY|os.O_CREATE|outputMode(o.resumeFile), 0o644)
		if err != nil {
			return fail("%v", err)
		}
		defer file.Close()
		if other := sameFileAs(file, written); other != "" {
			return fail("-o %s is the file of %s: name another", o.output, other)
		}
		if err := startOutput(file, o.resumeFile); err != nil {
			return fail("-o: %v", err)
		}
		if st, err := file.Stat(); err == nil {
			written["-o"] = st
		}
		out, isTTY = file, false
	}
	useColour := o.colour == "always" || (o.colour == "auto" && isTTY && os.Getenv("NO_COLOR") == "")
	w, err := report.New(o.format, out, useColour)
	if err != nil {
		return fail("--format: %v", err)
	}
	targets, closeList, err := scanTargets(pos, o.list)
	if err != nil {
		return fail("%v", err)
	}
	defer closeList()

	if o.openFile != "" {
		f, err := os.OpenFile(o.openFile, os.O_WRONLY|os.O_CREATE|outputMode(o.resumeFile), 0o644)
		if err != nil {
			return fail("--open: %v", err)
		}
		defer f.Close()
		if other := sameFileAs(f, written); other != "" {
			return fail("--open %s is the file of %s: name another", o.openFile, other)
		}
		if err := startOutput(f, o.resumeFile); err != nil {
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
	showProgress := !o.quiet && isTerminal(stderr)
	cfg.Warn = func(err error) { term.Printf("leakhound: %s\n", report.Safe(err.Error())) }
	cfg.Note = func(s string) {
		if !o.quiet {
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
	if !o.quiet {
		var extra []string
		if sum.Names > 0 {
			extra = append(extra, fmt.Sprintf("%d names resolved (%d discovered)", sum.Names, sum.Discovered))
		}
		if sum.Excluded > 0 {
			extra = append(extra, fmt.Sprintf("%d excluded", sum.Excluded))
		}
		if sum.Resumed > 0 {
			extra = append(extra, fmt.Sprintf("%d already done per %s", sum.Resumed, o.resumeFile))
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
