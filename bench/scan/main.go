// Command scan measures a full assessment of the lab's open ClickHouse
// server (detect, prove, inventory, privileges, sizing the 1M-row
// log_stream) through each protocol: the median wall time over several
// runs, and the rows and bytes read back. The lab must be up (scripts/lab).
//
//	go run ./bench/scan [-runs 7] [-bin PATH-TO-leakhound]
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/lab"
)

func main() {
	runs := flag.Int("runs", 7, "runs per protocol")
	bin := flag.String("bin", "bin/leakhound", "leakhound binary to measure")
	flag.Parse()
	if _, err := os.Stat(*bin); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v (build it: go build -o bin/leakhound ./cmd/leakhound)\n", err)
		os.Exit(2)
	}
	fmt.Printf("leakhound full assessment of %s (log_stream: %d rows), %d runs each\n", lab.Open.Host, lab.LogStreamRows, *runs)
	fmt.Printf("%-8s %10s %10s %10s %12s %12s %10s\n", "protocol", "median", "min", "max", "rows read", "bytes read", "of table")
	for _, p := range []struct {
		name string
		port int
	}{{"http", lab.Open.HTTPPort}, {"native", lab.Open.NativePort}} {
		var times []time.Duration
		var rows, logRows, bytesRead int64
		for range *runs {
			start := time.Now()
			cmd := exec.Command(*bin, "scan", lab.Open.Host, "-p", fmt.Sprint(p.port), "-f", "jsonl", "-q")
			// A key of its own: a benchmark leaves the user's key file alone.
			cmd.Env = append(os.Environ(), "LEAKHOUND_FINGERPRINT_KEY="+strings.Repeat("b0", 32))
			out, err := cmd.Output()
			times = append(times, time.Since(start))
			if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
				fmt.Fprintf(os.Stderr, "bench: scan failed: %v\n", err)
				os.Exit(1)
			}
			rows, logRows, bytesRead = readBack(out)
		}
		slices.Sort(times)
		fmt.Printf("%-8s %10s %10s %10s %12d %12d %9.3f%%\n", p.name, times[len(times)/2].Round(time.Millisecond),
			times[0].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), rows, bytesRead, 100*float64(logRows)/lab.LogStreamRows)
	}
	fmt.Println("(rows read: all tables; of table: log_stream rows read back / its rows)")
}

func readBack(out []byte) (rows, logRows, bytesRead int64) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 16<<20), 16<<20)
	for sc.Scan() {
		var f struct {
			Stats struct {
				RowsRead  int64 `json:"rows_read"`
				BytesRead int64 `json:"bytes_read"`
			} `json:"stats"`
			Inventory struct {
				Databases []struct {
					Tables []struct {
						Name    string `json:"name"`
						Sampled struct {
							Rows int64 `json:"rows"`
						} `json:"sampled"`
					} `json:"tables"`
				} `json:"databases"`
			} `json:"inventory"`
		}
		if json.Unmarshal(sc.Bytes(), &f) != nil {
			continue
		}
		rows, bytesRead = f.Stats.RowsRead, f.Stats.BytesRead
		for _, db := range f.Inventory.Databases {
			for _, t := range db.Tables {
				if t.Name == "log_stream" {
					logRows = t.Sampled.Rows
				}
			}
		}
	}
	return
}
