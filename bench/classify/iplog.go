package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/classify/corpus"
)

// chatScores prints the conversation judge's recall and precision on the
// labelled set of chat-log rows (corpus.ChatCases): plain-text prompts in
// key/value arrays and JSON with roles, against errors, stack traces, SQL,
// URLs, templates and log lines stored in the same places.
func chatScores(w io.Writer) {
	var tp, fp, fn, pos, neg int
	for _, c := range corpus.ChatCases() {
		_, _, ok := classify.Conversation(c.Columns, c.Values)
		if c.Chat {
			pos++
		} else {
			neg++
		}
		switch {
		case ok && c.Chat:
			tp++
		case ok:
			fp++
		case c.Chat:
			fn++
		}
	}
	fmt.Fprintf(w, "chat-log rows (%d holding prompts in 8 languages, %d hard negatives; key/value arrays, JSON with roles, JSON, columns): recall %.1f%%, precision %.1f%% (%d false positives, %d missed)\n\n",
		pos, neg, 100*float64(tp)/float64(max(tp+fn, 1)), 100*float64(tp)/float64(max(tp+fp, 1)), fp, fn)
}

// runIPLog runs every tool on a JSON log with a client address on every
// line and prints medians, what each wrote, and leakhound's speed ratio to
// each peer. leakhound runs twice: as it is (addresses counted per file)
// and with --ip-findings (each address listed).
func runIPLog(ctx context.Context, o options, dir string, tools []*tool, isolate bool) error {
	size, err := corpus.ParseSize(o.ipLog)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "iplog.jsonl")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = corpus.GenerateAccessLog(f, size, o.seed)
	if err = errors.Join(err, f.Close()); err != nil {
		return err
	}
	if err := warm(path); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	lines, err := countLines(path)
	if err != nil {
		return err
	}
	var runs []*tool
	for _, t := range tools {
		runs = append(runs, t)
		if t.name == "leakhound" {
			listed := *t
			listed.name, listed.runs = "leakhound --ip-findings", nil
			argv := t.argv
			listed.argv = func(file, out string) ([]string, string) {
				args, o := argv(file, out)
				return append(args[:len(args)-1:len(args)-1], "--ip-findings", args[len(args)-1]), o
			}
			runs = append(runs, &listed)
		}
	}
	walls, cpus := map[string][]time.Duration{}, map[string][]time.Duration{}
	outLines := map[string]int{}
	for r := range o.runs {
		for _, t := range runs {
			out := filepath.Join(dir, fmt.Sprintf("ip-%s-%d", strings.ReplaceAll(t.name, " ", ""), r))
			m, err := t.measure(ctx, path, out, isolate, o.timeout)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			fmt.Fprintf(os.Stderr, "bench: ip log: %s run %d: %s\n", t.name, r+1, m.wall.Round(time.Millisecond))
			walls[t.name] = append(walls[t.name], m.wall)
			cpus[t.name] = append(cpus[t.name], m.cpu)
			if r == 0 {
				_, stdout := t.argv(path, out)
				if outLines[t.name], err = countLines(stdout); err != nil {
					return err
				}
			}
		}
	}
	medianOf := func(m map[string][]time.Duration, name string) time.Duration {
		xs := slices.Clone(m[name])
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	median := func(name string) time.Duration { return medianOf(walls, name) }
	cpu := func(name string) time.Duration { return medianOf(cpus, name) }
	fmt.Printf("\nJSON log with a client address on every line: %.1f MB, %d lines; wall and CPU time: medians of %d runs\n", float64(st.Size())/1e6, lines, o.runs)
	for _, t := range runs {
		fmt.Printf("  %-26s %8.2f s wall  %8.2f s CPU  %8.2f MB/s  %8d output lines\n", t.name, median(t.name).Seconds(), cpu(t.name).Seconds(),
			float64(st.Size())/1e6/median(t.name).Seconds(), outLines[t.name])
	}
	for _, t := range runs {
		if strings.HasPrefix(t.name, "leakhound") {
			continue
		}
		for _, lh := range runs {
			if strings.HasPrefix(lh.name, "leakhound") {
				fmt.Printf("  throughput %s/%s: %.2fx (CPU time: %.2fx)\n", lh.name, t.name, median(t.name).Seconds()/median(lh.name).Seconds(), cpu(t.name).Seconds()/cpu(lh.name).Seconds())
			}
		}
	}
	return nil
}

func countLines(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strings.Count(string(b), "\n"), nil
}
