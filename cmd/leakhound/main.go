// Command leakhound finds datastores anyone on the network can read, proves
// it without changing anything, and measures what leaks.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
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
	"syscall"
	"time"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	_ "github.com/leakhound/leakhound/internal/datastore/all" // registers every driver
	"github.com/leakhound/leakhound/internal/report"
	"github.com/leakhound/leakhound/internal/resolve"
	"github.com/leakhound/leakhound/internal/scan"
	"github.com/leakhound/leakhound/internal/target"
	"github.com/spf13/cobra"
)

// Exit codes (README, "Exit status").
const (
	exitClean    = scan.ExitClean
	exitFindings = scan.ExitFindings
	exitError    = scan.ExitError
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal stops the command, which writes what it found; a
	// second one, once the default action is back, kills it at once.
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs the command line args (without the program's name) and returns
// its exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	code := exitClean
	root := newRootCmd(&code, stdin, stdout, stderr)
	if len(args) > 0 {
		for _, sub := range root.Commands() {
			if sub.Name() == args[0] {
				sub.InitDefaultHelpFlag()
				args = append([]string{args[0]}, goFlagSpellings(sub.Flags(), args[1:])...)
			}
		}
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		// Every error cobra returns is one of usage: the commands' own
		// errors are reported by them, with their exit status.
		fmt.Fprintf(stderr, "leakhound: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
		return exitError
	}
	return code
}

// runScan runs "leakhound scan args...".
func runScan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, append([]string{"scan"}, args...), strings.NewReader(""), stdout, stderr)
}

// runClassify runs "leakhound classify args...".
func runClassify(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, append([]string{"classify"}, args...), stdin, stdout, stderr)
}

// newRootCmd returns the leakhound command, whose subcommands set *code to
// their exit status.
func newRootCmd(code *int, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "leakhound",
		Short: "Find datastores anyone on the network can read, prove it read-only, size what leaks",
		Long: `leakhound finds datastores anyone on the network can read, proves it without
changing anything, measures what leaks (rows, secrets, personal data, chat
prompts) and says how to close it.`,
		Version:       versionText(debug.ReadBuildInfo()),
		SilenceErrors: true,
		SilenceUsage:  true,
		// Without a command: the usage, and the status of a usage error.
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(stderr)
			_ = cmd.Usage()
			*code = exitError
			return nil
		},
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("{{.Version}}")
	root.AddCommand(newScanCmd(code, stdout, stderr), newClassifyCmd(code, stdin, stdout, stderr), &cobra.Command{
		Use:   "version",
		Short: "Print leakhound's version, module version and VCS commit",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprint(stdout, root.Version)
		},
	})
	return root
}

// versionText says which leakhound this is: its release, the module
// version and the VCS commit Go stamped into the binary, each "unknown"
// when the binary does not say (go build -buildvcs=false, a build outside
// a git checkout, a test binary).
func versionText(bi *debug.BuildInfo, ok bool) string {
	module, commit, goVersion := "unknown", "unknown", "unknown"
	if ok {
		if bi.Main.Path != "" {
			module = bi.Main.Path + " " + bi.Main.Version // "(devel)" when built from a checkout
			if bi.Main.Version == "" {
				module = bi.Main.Path + " unknown"
			}
		}
		goVersion = bi.GoVersion
		settings := map[string]string{}
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			commit = rev
			if t := settings["vcs.time"]; t != "" {
				commit += " (" + t + ")"
			}
			if settings["vcs.modified"] == "true" {
				commit += ", with uncommitted changes"
			}
		} else {
			commit += " (not stamped: built with -buildvcs=false or outside a git checkout)"
		}
		if goos, goarch := settings["GOOS"], settings["GOARCH"]; goos != "" {
			goVersion += " " + goos + "/" + goarch
		}
	}
	return fmt.Sprintf("leakhound %s\nmodule:  %s\ncommit:  %s\ngo:      %s\n", report.Version, module, commit, goVersion)
}

const ipFindingsHelp = "report each IP address found as a detection; by default addresses are counted as context (per table in scan, per file in classify)"

const fingerprintKeyHelp = "`HEX` key (at least 16 bytes) of the keyed fingerprints; share one to compare fingerprints across machines (default: $" + classify.KeyEnv + ", else a key made on first use and kept in <user config dir>/leakhound/fingerprint.key)"

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
func (l *listFlag) Type() string   { return "list" }
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

// driverNames lists the datastore names -p accepts.
func driverNames() []string {
	var names []string
	for _, d := range datastore.Drivers() {
		names = append(names, d.Name())
	}
	return names
}
