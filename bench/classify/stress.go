package main

// The stress mode: inputs that once made classify quadratic in a line's
// length or its memory grow with the number of cores, each run through
// `leakhound classify -f jsonl`, and through an older binary when given:
//
//	go run ./bench/classify -stress -leakhound bin/leakhound -baseline /tmp/old/leakhound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/leakhound/leakhound/internal/classify/corpus"
)

type stressOptions struct {
	leakhound, baseline string
	sizes               []int64 // long-line sizes
	dense               int64   // size of the dense-email files
	perLine             []int   // emails a line in each dense file
	procs               []int   // GOMAXPROCS values the dense files run with
	runs                int
	timeout             time.Duration
}

// stressCase is one input and how to run leakhound on it.
type stressCase struct {
	group, name string
	file        string
	size        int64
	procs       int
}

type stressResult struct {
	wall     time.Duration
	maxRSS   int64
	findings int
	err      error
}

func runStress(ctx context.Context, o stressOptions) error {
	if len(o.procs) == 0 || o.runs < 1 {
		return errors.New("-stress needs -procs and -runs of at least 1")
	}
	dir, err := os.MkdirTemp("", "leakhound-stress-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var cases []stressCase
	for _, size := range o.sizes {
		for _, shape := range []string{"digit-runs", "json-log"} {
			var b []byte
			if shape == "digit-runs" {
				b = corpus.DigitRuns(int(size), 1)
			} else {
				b, _ = corpus.JSONLogExport(int(size), 1)
			}
			file := filepath.Join(dir, fmt.Sprintf("%s-%d.log", shape, size))
			if err := os.WriteFile(file, append(b, '\n'), 0o600); err != nil {
				return err
			}
			cases = append(cases, stressCase{"one long line", fmt.Sprintf("%s %s", shape, sizeName(size)), file, int64(len(b) + 1), o.procs[0]})
		}
	}
	for _, perLine := range o.perLine {
		file := filepath.Join(dir, fmt.Sprintf("emails-%d.log", perLine))
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		err = corpus.DenseEmails(f, o.dense, perLine, 1)
		if err = errors.Join(err, f.Close()); err != nil {
			return err
		}
		st, err := os.Stat(file)
		if err != nil {
			return err
		}
		for _, p := range o.procs {
			cases = append(cases, stressCase{"dense emails", fmt.Sprintf("%s, %d a line, GOMAXPROCS=%d", sizeName(st.Size()), perLine, p), file, st.Size(), p})
		}
	}

	// On Linux a child's peak RSS counts the memory of the process that
	// started it until exec: give back what generating the inputs took.
	debug.FreeOSMemory()

	bins := []string{o.leakhound}
	if o.baseline != "" {
		bins = append(bins, o.baseline)
	}
	w := os.Stdout
	fmt.Fprintf(w, "leakhound classify -f jsonl FILE; medians of %d runs\n", o.runs)
	fmt.Fprintf(w, "new: %s\n", o.leakhound)
	if o.baseline != "" {
		fmt.Fprintf(w, "old: %s\n", o.baseline)
	}
	group := ""
	for _, c := range cases {
		if c.group != group {
			group = c.group
			fmt.Fprintf(w, "\n%-40s %10s %9s %9s %10s", group, "findings", "wall s", "ms/MB", "peak MB")
			if o.baseline != "" {
				fmt.Fprintf(w, " │ %10s %9s %9s %10s", "old finds", "old s", "old ms/MB", "old MB")
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%-40s", c.name)
		for i, bin := range bins {
			r := medianRun(ctx, bin, c, o)
			if i > 0 {
				fmt.Fprint(w, " │")
			}
			if r.err != nil {
				fmt.Fprintf(w, " %s", r.err)
				continue
			}
			perMB := r.wall.Seconds() * 1000 / (float64(c.size) / (1 << 20))
			fmt.Fprintf(w, " %10d %9.2f %9.1f %10.0f", r.findings, r.wall.Seconds(), perMB, float64(r.maxRSS)/1e6)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// medianRun runs bin on c o.runs times: the median wall time and peak RSS,
// and the findings of the first run. A run past the timeout ends them.
func medianRun(ctx context.Context, bin string, c stressCase, o stressOptions) stressResult {
	var walls []time.Duration
	var rss []int64
	var first stressResult
	for i := range o.runs {
		r := runOnce(ctx, bin, c, o.timeout)
		if r.err != nil {
			return r
		}
		if i == 0 {
			first = r
		}
		walls = append(walls, r.wall)
		rss = append(rss, r.maxRSS)
	}
	slices.Sort(walls)
	slices.Sort(rss)
	first.wall, first.maxRSS = walls[len(walls)/2], rss[len(rss)/2]
	return first
}

func runOnce(ctx context.Context, bin string, c stressCase, timeout time.Duration) stressResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "classify", "-f", "jsonl", c.file)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(c.procs))
	var lines lineCounter
	var stderr tail
	cmd.Stdout, cmd.Stderr = &lines, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if ctx.Err() != nil {
		return stressResult{err: fmt.Errorf("over %s", timeout)}
	}
	ps := cmd.ProcessState
	if ps == nil || !ps.Exited() || ps.ExitCode() > 1 {
		return stressResult{err: fmt.Errorf("%v: %s", err, firstLine(stderr.String()))}
	}
	r := stressResult{wall: wall, findings: lines.n}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss * 1024 // kilobytes on Linux
	}
	return r
}

// lineCounter counts the lines written to it: one per finding in jsonl.
type lineCounter struct{ n int }

func (l *lineCounter) Write(p []byte) (int, error) {
	l.n += bytes.Count(p, []byte{'\n'})
	return len(p), nil
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

// parseSizes reads a comma-separated list of sizes (256KiB,1MiB); empty
// is none.
func parseSizes(s string) ([]int64, error) {
	var out []int64
	if s == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := corpus.ParseSize(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// parseInts reads a comma-separated list of positive integers; empty is
// none.
func parseInts(s string) ([]int, error) {
	var out []int
	if s == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}
