package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/report"
	"github.com/spf13/cobra"
)

// classifyFlags holds the flags of "leakhound classify".
type classifyFlags struct {
	format, fingerprintKey string
	ipFindings             bool
}

// newClassifyCmd returns "leakhound classify", which sets *code to its exit
// status.
//
// A flag is one line in its group below: the group sets the place of its
// help.
func newClassifyCmd(code *int, stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var o classifyFlags
	cmd := &cobra.Command{
		Use:   "classify [flags] [PATH|-]...",
		Short: "Find secrets, personal data and chat logs in files, directories or standard input",
		Long: `Scan files, directories or standard input (- or nothing) line by line and write one
detection per line, redacted and fingerprinted, never the raw value.`,
		Example: `  leakhound classify app.log
  leakhound classify -f jsonl logs/
  leakhound classify -f sarif src/ > leakhound.sarif`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, paths []string) error {
			*code = o.run(cmd.Context(), paths, stdin, stdout, stderr)
			return nil
		},
	}
	g := newFlagGroups(cmd)

	detect := g.add("DETECTION")
	detect.StringVar(&o.fingerprintKey, "fingerprint-key", "", fingerprintKeyHelp)
	detect.BoolVar(&o.ipFindings, "ip-findings", false, ipFindingsHelp)

	out := g.add("OUTPUT")
	out.StringVarP(&o.format, "format", "f", "text", "output `FORMAT`: text, jsonl, "+strings.Join(report.FileFormats, ", "))

	g.attach()
	completeWith(cmd, "format", append([]string{"text", "jsonl"}, report.FileFormats...)...)
	return cmd
}

// run classifies the paths and returns the exit status.
func (o *classifyFlags) run(ctx context.Context, paths []string, stdin io.Reader, stdout, stderr io.Writer) int {
	format, fingerprintKey, ipFindings := o.format, o.fingerprintKey, o.ipFindings
	var doc report.FileWriter // a document format: sarif, defectdojo
	if format != "text" && format != "jsonl" {
		if _, err := report.NewFiles(format, io.Discard); err != nil {
			fmt.Fprintf(stderr, "leakhound: --format %q is not text, jsonl or one of %s\n", format, strings.Join(report.FileFormats, ", "))
			return exitError
		}
	}
	if len(paths) == 0 {
		paths = []string{"-"}
	}
	key, err := classify.LoadKey(fingerprintKey, func(s string) { fmt.Fprintf(stderr, "leakhound: %s\n", s) })
	if err != nil {
		fmt.Fprintf(stderr, "leakhound: %v\n", err)
		return exitError
	}
	out := bufio.NewWriter(stdout)
	if format != "text" && format != "jsonl" {
		doc, _ = report.NewFiles(format, out)
	}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	// A write that fails (a full disk, a closed pipe) ends the command with
	// an error: findings are never dropped without a word.
	var writeErr error
	scanCtx, stopScan := context.WithCancel(ctx)
	defer stopScan()
	found, failed := 0, 0
	emit := func(f classify.Finding) {
		if writeErr != nil {
			return
		}
		found++
		var err error
		switch {
		case doc != nil:
			err = doc.WriteFile(f)
		case format == "jsonl":
			err = enc.Encode(f)
		default:
			v := ""
			if f.Validated {
				v = "  validated"
			}
			_, err = fmt.Fprintf(out, "%s:%d:%d-%d  %s/%s  %s  %s%s\n", report.Safe(f.Path), f.Line, f.Start, f.End, f.Category, f.Kind, f.Rule, report.Safe(f.Redacted), v)
		}
		if err != nil {
			writeErr = err
			stopScan()
		}
	}
	warn := func(err error) {
		failed++
		fmt.Fprintf(stderr, "leakhound: %s\n", report.Safe(err.Error()))
	}
	e := classify.Default().WithKey(key)
	if !ipFindings {
		// Counts follow each input's detections: a line of their own in
		// jsonl and text; document formats carry detections only.
		e = e.CountOnly(classify.ContextKinds, func(c classify.Counted) {
			if writeErr != nil || doc != nil || len(c.Context) == 0 {
				return
			}
			var err error
			if format == "jsonl" {
				err = enc.Encode(c)
			} else {
				_, err = fmt.Fprintf(out, "%s  context  %s\n", report.Safe(c.Path), contextLine(c.Context))
			}
			if err != nil {
				writeErr = err
				stopScan()
			}
		})
	}
	for _, p := range paths {
		if scanCtx.Err() != nil {
			break
		}
		var err error
		if p == "-" {
			err = e.ScanReader(scanCtx, interruptible(scanCtx, stdin), "-", emit)
		} else {
			err = e.ScanPath(scanCtx, p, emit, warn)
		}
		if err != nil && scanCtx.Err() == nil {
			warn(err)
		}
	}
	if doc != nil && writeErr == nil {
		// The document is closed even when interrupted: what was found so
		// far is a complete document.
		writeErr = doc.Close()
	}
	if err := out.Flush(); err != nil && writeErr == nil {
		writeErr = err
	}
	if writeErr != nil {
		fmt.Fprintf(stderr, "leakhound: writing detections: %v\n", writeErr)
		return exitError
	}
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "leakhound: interrupted: what was found so far is written, the rest was not read\n")
	}
	switch {
	case found > 0:
		return exitFindings
	case failed > 0 || ctx.Err() != nil:
		return exitError
	}
	return exitClean
}

// contextLine writes counts as "kind N, kind N", kinds in order.
func contextLine(counts map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

// interruptible returns a reader of r whose Read returns as soon as ctx is
// done: a read of a terminal or a pipe may block forever, and a signal
// must still stop the command.
func interruptible(ctx context.Context, r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, r)
		pw.CloseWithError(err)
	}()
	context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) })
	return pr
}
