// Command classify measures leakhound classify against gitleaks and
// trufflehog on one labelled synthetic corpus (internal/classify/corpus):
// recall per kind, precision, throughput and peak memory, each tool on the
// same file in the same run.
//
//	go build -o bin/leakhound ./cmd/leakhound
//	go run ./bench/classify -leakhound bin/leakhound \
//	    -gitleaks /path/to/gitleaks -trufflehog /path/to/trufflehog -size 100MB
//
// With -stress it measures instead time per MB on long lines and peak
// memory on files dense with findings, against an older leakhound given
// as -baseline (stress.go).
//
// Peers run only in modes that verify nothing over the network (gitleaks
// dir or detect --no-git; trufflehog filesystem --no-verification
// --no-update), and, where unshare(1) allows, in a network namespace with
// no interface but a downed loopback. A tool given as an empty path is
// skipped.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

func main() {
	var o options
	flag.StringVar(&o.leakhound, "leakhound", "bin/leakhound", "leakhound binary (empty: skip)")
	flag.StringVar(&o.gitleaks, "gitleaks", "", "gitleaks binary (empty: skip)")
	flag.StringVar(&o.trufflehog, "trufflehog", "", "trufflehog binary (empty: skip)")
	flag.StringVar(&o.size, "size", "100MB", "corpus size (20MB, 100MB, 1GB)")
	flag.IntVar(&o.lines, "lines", 0, "corpus lines, instead of -size")
	flag.Uint64Var(&o.seed, "seed", 1, "corpus seed")
	flag.IntVar(&o.runs, "runs", 3, "runs per tool; times and memory are medians (accuracy is from the first run)")
	flag.StringVar(&o.corpus, "corpus", "", "use this corpus file instead of generating one (needs -labels)")
	flag.StringVar(&o.labels, "labels", "", "labels of -corpus")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (corpus, labels, each tool's output)")
	flag.BoolVar(&o.netns, "netns", true, "run every tool in an empty network namespace (unshare -rn) when possible")
	flag.DurationVar(&o.timeout, "timeout", time.Hour, "limit for one tool run")
	flag.BoolVar(&o.main, "main", true, "measure the labelled corpus (false: only the chat-log set and the IP log)")
	flag.StringVar(&o.ipLog, "ip-log", "22MB", "size of a JSON log with a client address on every line, each tool run on it too (empty: skip)")
	stress := flag.Bool("stress", false, "measure long lines and files dense with findings instead (see -baseline)")
	baseline := flag.String("baseline", "", "with -stress: an older leakhound binary to compare")
	sizes := flag.String("line-sizes", "256KiB,1MiB,4MiB,16MiB", "with -stress: sizes of the long lines (empty: none)")
	dense := flag.String("dense-size", "50MB", "with -stress: size of the files dense with emails")
	procs := flag.String("procs", "2,8", "with -stress: GOMAXPROCS values for the dense files")
	perLine := flag.String("per-line", "1,40,100000", "with -stress: emails a line in each dense file (empty: none)")
	flag.Parse()
	if *stress {
		so := stressOptions{leakhound: o.leakhound, baseline: *baseline, runs: o.runs, timeout: o.timeout}
		var err error
		if so.sizes, err = parseSizes(*sizes); err == nil {
			if so.dense, err = corpus.ParseSize(*dense); err == nil {
				if so.procs, err = parseInts(*procs); err == nil {
					so.perLine, err = parseInts(*perLine)
				}
			}
		}
		if err == nil {
			err = runStress(context.Background(), so)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	leakhound, gitleaks, trufflehog string
	size                            string
	lines                           int
	seed                            uint64
	runs                            int
	corpus, labels                  string
	keep, netns                     bool
	timeout                         time.Duration
	main                            bool
	ipLog                           string
}

func run(ctx context.Context, o options) error {
	if o.runs < 1 {
		return fmt.Errorf("-runs %d: want at least 1", o.runs)
	}
	dir, err := os.MkdirTemp("", "leakhound-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "bench: work directory %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	var tools []*tool
	for _, t := range []struct {
		path string
		make func(string) (*tool, error)
	}{{o.leakhound, leakhoundTool}, {o.gitleaks, gitleaksTool}, {o.trufflehog, trufflehogTool}} {
		if t.path == "" {
			continue
		}
		abs, err := exec.LookPath(t.path)
		if err != nil {
			return err
		}
		if abs, err = filepath.Abs(abs); err != nil {
			return err
		}
		tl, err := t.make(abs)
		if err != nil {
			return err
		}
		tools = append(tools, tl)
	}
	if len(tools) == 0 {
		return errors.New("no tool to measure: give -leakhound, -gitleaks or -trufflehog")
	}

	chatScores(os.Stdout)
	isolate := o.netns && canUnshare()
	if o.netns && !isolate {
		fmt.Fprintln(os.Stderr, "bench: unshare -rn is not available here; tools run in the host network namespace (peers still verify nothing)")
	}
	if o.main {
		if err := runCorpus(ctx, o, dir, tools, isolate); err != nil {
			return err
		}
	}
	if o.ipLog != "" {
		return runIPLog(ctx, o, dir, tools, isolate)
	}
	return nil
}

// runCorpus measures every tool on the labelled corpus.
func runCorpus(ctx context.Context, o options, dir string, tools []*tool, isolate bool) error {
	corpusPath, labelsPath := o.corpus, o.labels
	if corpusPath == "" {
		corpusPath, labelsPath = filepath.Join(dir, "corpus.log"), filepath.Join(dir, "labels.jsonl")
		start := time.Now()
		if err := writeCorpus(corpusPath, labelsPath, o); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: corpus written in %s\n", time.Since(start).Round(time.Millisecond))
	} else if labelsPath == "" {
		return errors.New("-corpus needs -labels")
	}
	st, err := os.Stat(corpusPath)
	if err != nil {
		return err
	}
	// Read the corpus once so that every tool finds it in the page cache.
	if err := warm(corpusPath); err != nil {
		return err
	}
	for r := range o.runs {
		for _, t := range tools {
			out := filepath.Join(dir, fmt.Sprintf("%s-%d", t.name, r))
			m, err := t.measure(ctx, corpusPath, out, isolate, o.timeout)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			fmt.Fprintf(os.Stderr, "bench: %s run %d: %s, %.0f MB peak\n", t.name, r+1, m.wall.Round(time.Millisecond), float64(m.maxRSS)/1e6)
			t.runs = append(t.runs, m)
		}
	}
	// Labels are read and outputs scored only now: on Linux a child's
	// peak RSS counts the peak of the process that started it (its
	// memory until exec), and labels of a large corpus take hundreds of
	// MB, which would be charged to every tool.
	labels, err := readLabels(labelsPath)
	if err != nil {
		return err
	}
	for _, t := range tools {
		findings, err := t.parse(filepath.Join(dir, t.name+"-0"))
		if err != nil {
			return fmt.Errorf("%s: reading its output: %w", t.name, err)
		}
		if t.result, err = corpus.Score(corpusPath, labels, findings); err != nil {
			return err
		}
	}
	report(os.Stdout, st.Size(), labels, tools, o)
	return nil
}

func writeCorpus(corpusPath, labelsPath string, o options) error {
	c, err := os.Create(corpusPath)
	if err != nil {
		return err
	}
	defer c.Close()
	l, err := os.Create(labelsPath)
	if err != nil {
		return err
	}
	defer l.Close()
	if o.lines > 0 {
		err = corpus.Generate(c, l, o.lines, o.seed)
	} else {
		var n int64
		if n, err = corpus.ParseSize(o.size); err == nil {
			err = corpus.GenerateSize(c, l, n, o.seed)
		}
	}
	return errors.Join(err, c.Close(), l.Close())
}

func readLabels(path string) ([]corpus.Label, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return corpus.ReadLabels(f)
}

func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

func canUnshare() bool {
	return exec.Command("unshare", "-rn", "true").Run() == nil
}

// tool is one detector: how to run it on a file and read what it found.
type tool struct {
	name    string
	version string
	argv    func(file, out string) (args []string, stdout string)
	okExit  func(code int) bool
	parse   func(out string) ([]corpus.Finding, error)
	pii     bool     // it looks for personal data at all
	env     []string // added to the environment it runs in

	runs   []measurement
	result *corpus.Result
}

type measurement struct {
	wall, cpu time.Duration
	maxRSS    int64 // bytes
}

// measure runs the tool once on file, writing its report under out.
func (t *tool) measure(ctx context.Context, file, out string, isolate bool, timeout time.Duration) (measurement, error) {
	args, stdoutPath := t.argv(file, out)
	if isolate {
		// unshare execs the tool in place: the process measured is the tool.
		args = append([]string{"unshare", "-rn"}, args...)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = filepath.Dir(file)
	if len(t.env) > 0 {
		cmd.Env = append(os.Environ(), t.env...)
	}
	stdout, err := os.Create(stdoutPath)
	if err != nil {
		return measurement{}, err
	}
	defer stdout.Close()
	var stderr tail
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	ps := cmd.ProcessState
	if ps == nil {
		return measurement{}, err
	}
	if !ps.Exited() || !t.okExit(ps.ExitCode()) {
		return measurement{}, fmt.Errorf("%s: %s\n%s", strings.Join(args, " "), ps, stderr.String())
	}
	m := measurement{wall: wall, cpu: ps.UserTime() + ps.SystemTime()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		m.maxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	return m, nil
}

// tail keeps the end of a tool's standard error for error messages.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 8<<10 {
		t.b = t.b[len(t.b)-4<<10:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.b) }

func toolVersion(path string, args ...string) string {
	out, _ := exec.Command(path, args...).CombinedOutput()
	return strings.TrimSpace(string(out))
}

func leakhoundTool(path string) (*tool, error) {
	return &tool{
		name: "leakhound",
		pii:  true,
		// A key of its own: a benchmark leaves the user's key file alone.
		env: []string{"LEAKHOUND_FINGERPRINT_KEY=" + strings.Repeat("b0", 32)},
		argv: func(file, out string) ([]string, string) {
			return []string{path, "classify", "-f", "jsonl", file}, out + ".jsonl"
		},
		okExit: func(code int) bool { return code == 0 || code == 1 },
		parse: func(out string) ([]corpus.Finding, error) {
			var fs []corpus.Finding
			err := eachJSON(out+".jsonl", func(b []byte) error {
				var d struct {
					Line, Start, End     int
					Category, Kind, Rule string
				}
				if err := json.Unmarshal(b, &d); err != nil {
					return err
				}
				fs = append(fs, corpus.Finding{Line: d.Line, Start: d.Start, End: d.End, Category: d.Category, Kind: d.Kind, Rule: d.Rule})
				return nil
			})
			return fs, err
		},
	}, nil
}

var semver = regexp.MustCompile(`v?(\d+)\.(\d+)\.(\d+)`)

func gitleaksTool(path string) (*tool, error) {
	version := toolVersion(path, "version")
	// gitleaks 8.19 added "dir" and deprecated "detect --no-git"; a build
	// without a version stamp is asked whether it knows "dir".
	dir := false
	if m := semver.FindStringSubmatch(version); m != nil {
		major, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		dir = major > 8 || major == 8 && minor >= 19
	} else {
		dir = exec.Command(path, "dir", "--help").Run() == nil
	}
	return &tool{
		name:    "gitleaks",
		version: version,
		argv: func(file, out string) ([]string, string) {
			if dir {
				return []string{path, "dir", "--no-banner", "--report-format", "json", "--report-path", out + ".json", file}, out + ".stdout"
			}
			return []string{path, "detect", "--no-git", "--no-banner", "-s", file, "-f", "json", "-r", out + ".json"}, out + ".stdout"
		},
		okExit: func(code int) bool { return code == 0 || code == 1 }, // 1: leaks found
		parse: func(out string) ([]corpus.Finding, error) {
			b, err := os.ReadFile(out + ".json")
			if err != nil {
				return nil, err
			}
			var rs []struct {
				RuleID        string
				StartLine     int
				Secret, Match string
			}
			if err := json.Unmarshal(b, &rs); err != nil {
				return nil, err
			}
			fs := make([]corpus.Finding, 0, len(rs))
			for _, r := range rs {
				v := r.Secret
				if v == "" {
					v = r.Match
				}
				fs = append(fs, corpus.Finding{Line: r.StartLine, Value: v, Kind: gitleaksKind(r.RuleID), Rule: r.RuleID})
			}
			return fs, nil
		},
	}, nil
}

func trufflehogTool(path string) (*tool, error) {
	return &tool{
		name:    "trufflehog",
		version: toolVersion(path, "--version"),
		argv: func(file, out string) ([]string, string) {
			return []string{path, "filesystem", file, "--json", "--no-verification", "--no-update"}, out + ".jsonl"
		},
		okExit: func(code int) bool { return code == 0 || code == 183 }, // 183: results found, with --fail
		parse: func(out string) ([]corpus.Finding, error) {
			var fs []corpus.Finding
			err := eachJSON(out+".jsonl", func(b []byte) error {
				var r struct {
					SourceMetadata struct {
						Data struct {
							Filesystem struct {
								Line int `json:"line"`
							}
						}
					}
					DetectorName string
					Raw, RawV2   string
				}
				if err := json.Unmarshal(b, &r); err != nil {
					return err
				}
				v := r.Raw
				if v == "" {
					v = r.RawV2
				}
				fs = append(fs, corpus.Finding{Line: r.SourceMetadata.Data.Filesystem.Line, Value: v, Kind: trufflehogKind(r.DetectorName), Rule: r.DetectorName})
				return nil
			})
			return fs, err
		},
	}, nil
}

// eachJSON calls fn with each line of path that holds a JSON object.
func eachJSON(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if b := sc.Bytes(); len(b) > 0 && b[0] == '{' {
			if err := fn(b); err != nil {
				return fmt.Errorf("%s:%d: %w", path, n, err)
			}
		}
	}
	return sc.Err()
}

// gitleaksKind names a gitleaks rule in our kinds, where one fits.
func gitleaksKind(rule string) string {
	for _, p := range []struct{ prefix, kind string }{
		{"openai", "openai"}, {"anthropic", "anthropic"}, {"aws", "aws"}, {"github", "github"}, {"gitlab", "gitlab"},
		{"slack", "slack"}, {"stripe", "stripe"}, {"gcp-api-key", "google"}, {"private-key", "private_key"},
		{"jwt", "jwt"}, {"sendgrid", "sendgrid"}, {"twilio", "twilio"}, {"telegram", "telegram"},
		{"huggingface", "huggingface"}, {"npm", "npm"}, {"generic", "generic"},
	} {
		if strings.HasPrefix(rule, p.prefix) {
			return p.kind
		}
	}
	return rule
}

// trufflehogKind names a trufflehog detector in our kinds, where one fits.
func trufflehogKind(detector string) string {
	switch d := strings.ToLower(detector); d {
	case "openai", "openaiadmin":
		return "openai"
	case "googlegeminiapikey", "gcp":
		return "google"
	case "telegrambottoken":
		return "telegram"
	case "npmtoken", "npmtokenv2":
		return "npm"
	case "privatekey":
		return "private_key"
	case "postgres", "mongodb", "redis", "uri", "jdbc", "mysql", "sqlserver":
		return "connection_string"
	default:
		return d
	}
}

// report prints the table.
func report(w io.Writer, size int64, labels []corpus.Label, tools []*tool, o options) {
	count := map[string]int{}
	for _, l := range labels {
		count[l.Category]++
	}
	fmt.Fprintf(w, "corpus: %.1f MB, seed %d; planted %d secrets, %d personal data, %d hard negatives\n",
		float64(size)/1e6, o.seed, count[corpus.Secret], count[corpus.PII], count[corpus.Negative])
	for _, t := range tools {
		if t.version != "" {
			fmt.Fprintf(w, "%s: %s\n", t.name, firstLine(t.version))
		}
	}
	if o.runs > 1 {
		fmt.Fprintf(w, "times and memory: median of %d runs; accuracy: first run\n", o.runs)
	}
	fmt.Fprintln(w)

	const nameW = 34
	row := func(name string, cells ...string) {
		fmt.Fprintf(w, "%-*s", nameW, name)
		for _, c := range cells {
			fmt.Fprintf(w, " %13s", c)
		}
		fmt.Fprintln(w)
	}
	head := []string{"planted"}
	for _, t := range tools {
		head = append(head, t.name)
	}
	row("", head...)

	type key struct{ category, kind, variant string }
	planted := map[key]int{}
	var keys []key
	for _, l := range labels {
		for _, k := range []key{{l.Category, l.Kind, ""}, {l.Category, l.Kind, l.Variant}} {
			if planted[k] == 0 {
				keys = append(keys, k)
			}
			planted[k]++
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.category != b.category {
			return a.category > b.category // secret, pii, negative
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		return a.variant < b.variant
	})
	variants := map[[2]string]int{}
	for _, k := range keys {
		if k.variant != "" {
			variants[[2]string{k.category, k.kind}]++
		}
	}
	found := func(t *tool, match func(corpus.Label) bool) (n, of int) {
		for i, l := range labels {
			if match(l) {
				of++
				if t.result.Found[i] {
					n++
				}
			}
		}
		return n, of
	}
	pct := func(n, of int) string {
		if of == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
	}
	cat := ""
	for _, k := range keys {
		if k.category != cat {
			cat = k.category
			fmt.Fprintln(w)
			switch cat {
			case corpus.Secret:
				row("recall: secrets")
			case corpus.PII:
				row("recall: personal data")
			case corpus.Negative:
				row("hard negatives reported (fewer is better)")
			}
		}
		if k.variant != "" && variants[[2]string{k.category, k.kind}] < 2 {
			continue
		}
		name := "  " + k.kind
		if k.variant != "" {
			name = "    " + k.variant
		}
		cells := []string{strconv.Itoa(planted[k])}
		for _, t := range tools {
			if cat == corpus.PII && !t.pii {
				cells = append(cells, "n/a")
				continue
			}
			n, of := found(t, func(l corpus.Label) bool {
				return l.Category == k.category && l.Kind == k.kind && (k.variant == "" || l.Variant == k.variant)
			})
			if cat == corpus.Negative {
				cells = append(cells, strconv.Itoa(n))
			} else {
				cells = append(cells, pct(n, of))
			}
		}
		row(name, cells...)
	}

	fmt.Fprintln(w)
	summary := func(name string, cell func(t *tool) string) {
		cells := []string{""}
		for _, t := range tools {
			cells = append(cells, cell(t))
		}
		row(name, cells...)
	}
	summary("secret recall", func(t *tool) string {
		return pct(found(t, func(l corpus.Label) bool { return l.Category == corpus.Secret }))
	})
	summary("credential recall (pairs as one)", func(t *tool) string { return pct(credentials(labels, t.result.Found)) })
	summary("personal data recall", func(t *tool) string {
		if !t.pii {
			return "n/a"
		}
		return pct(found(t, func(l corpus.Label) bool { return l.Category == corpus.PII }))
	})
	summary("findings", func(t *tool) string { return strconv.Itoa(t.result.Findings) })
	summary("precision", func(t *tool) string { return pct(t.result.Hits, t.result.Findings) })
	summary("false positives", func(t *tool) string { return strconv.Itoa(t.result.Findings - t.result.Hits) })
	summary("findings placed on another line", func(t *tool) string { return strconv.Itoa(t.result.Relocated) })

	fmt.Fprintln(w)
	med := func(t *tool, f func(measurement) float64) float64 {
		var xs []float64
		for _, m := range t.runs {
			xs = append(xs, f(m))
		}
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	wall := func(t *tool) float64 { return med(t, func(m measurement) float64 { return m.wall.Seconds() }) }
	mbps := func(t *tool) float64 { return float64(size) / 1e6 / wall(t) }
	summary("wall time (s)", func(t *tool) string { return fmt.Sprintf("%.2f", wall(t)) })
	summary("CPU time (s)", func(t *tool) string {
		return fmt.Sprintf("%.2f", med(t, func(m measurement) float64 { return m.cpu.Seconds() }))
	})
	summary("throughput (MB/s)", func(t *tool) string { return fmt.Sprintf("%.2f", mbps(t)) })
	summary("peak RSS (MB)", func(t *tool) string {
		return fmt.Sprintf("%.0f", med(t, func(m measurement) float64 { return float64(m.maxRSS) / 1e6 }))
	})
	var lh *tool
	for _, t := range tools {
		if t.name == "leakhound" {
			lh = t
		}
	}
	if lh != nil {
		for _, t := range tools {
			if t != lh {
				row(fmt.Sprintf("throughput leakhound/%s", t.name), "", fmt.Sprintf("%.2fx", mbps(lh)/mbps(t)))
			}
		}
	}

	fmt.Fprintln(w)
	for _, t := range tools {
		fmt.Fprintf(w, "%s: false positives by what they lie on: %s\n", t.name, topCounts(t.result.FalsePositives, 12))
		mismatch := map[string]int{}
		for k, n := range t.result.Kinds {
			if k[0] != k[1] {
				mismatch[k[0]+"←"+k[1]] += n
			}
		}
		if len(mismatch) > 0 {
			fmt.Fprintf(w, "%s: hits under another kind (ours←theirs): %s\n", t.name, topCounts(mismatch, 12))
		}
	}
}

// credentials counts credentials found: a label alone, or a group of
// labels found when any of its parts is.
func credentials(labels []corpus.Label, found []bool) (n, of int) {
	groups := map[int]bool{}
	for i, l := range labels {
		if l.Category != corpus.Secret {
			continue
		}
		if l.Group == 0 {
			of++
			if found[i] {
				n++
			}
			continue
		}
		groups[l.Group] = groups[l.Group] || found[i]
	}
	for _, f := range groups {
		of++
		if f {
			n++
		}
	}
	return n, of
}

func topCounts(m map[string]int, limit int) string {
	if len(m) == 0 {
		return "none"
	}
	type kv struct {
		k string
		n int
	}
	var xs []kv
	for k, n := range m {
		xs = append(xs, kv{k, n})
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].n > xs[j].n || xs[i].n == xs[j].n && xs[i].k < xs[j].k })
	var parts []string
	for i, x := range xs {
		if i == limit {
			parts = append(parts, fmt.Sprintf("… %d more", len(xs)-limit))
			break
		}
		parts = append(parts, fmt.Sprintf("%s %d", x.k, x.n))
	}
	return strings.Join(parts, ", ")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
