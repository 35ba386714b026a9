// Command scan measures a full assessment of each of the lab's open
// servers through the command line a user types (detect, prove, inventory,
// privileges, sizing the 1M-row table): ClickHouse through each protocol
// (log_stream), PostgreSQL and MariaDB (chat_logs). It prints the median
// wall time over several runs, and the rows and bytes read back. The lab
// must be up (scripts/lab up).
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
	fmt.Printf("leakhound full assessment of each open lab server, %d runs each\n", *runs)
	fmt.Printf("%-20s %10s %10s %10s %12s %12s %10s\n", "server", "median", "min", "max", "rows read", "bytes read", "of table")
	for _, p := range []struct {
		name, host string
		port       int
		table      string
		rows       float64
	}{
		{"clickhouse http", lab.Open.Host, lab.Open.HTTPPort, "log_stream", lab.LogStreamRows},
		{"clickhouse native", lab.Open.Host, lab.Open.NativePort, "log_stream", lab.LogStreamRows},
		{"postgresql", lab.PGOpen.Host, lab.PGOpen.Port, "chat_logs", lab.ChatLogsRows},
		{"mariadb", lab.MariaDBOpen.Host, lab.MariaDBOpen.Port, "chat_logs", lab.ChatLogsRows},
	} {
		var times []time.Duration
		var rows, bigRows, bytesRead int64
		for range *runs {
			start := time.Now()
			cmd := exec.Command(*bin, "scan", p.host, "-p", fmt.Sprint(p.port), "-f", "jsonl", "-q")
			// A key of its own: a benchmark leaves the user's key file alone.
			cmd.Env = append(os.Environ(), "LEAKHOUND_FINGERPRINT_KEY="+strings.Repeat("b0", 32))
			out, err := cmd.Output()
			times = append(times, time.Since(start))
			if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 1) {
				fmt.Fprintf(os.Stderr, "bench: scan %s failed: %v\n", p.name, err)
				os.Exit(1)
			}
			rows, bigRows, bytesRead = readBack(out, p.table)
		}
		slices.Sort(times)
		fmt.Printf("%-20s %10s %10s %10s %12d %12d %9.3f%%\n", p.name, times[len(times)/2].Round(time.Millisecond),
			times[0].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), rows, bytesRead, 100*float64(bigRows)/p.rows)
	}
	fmt.Println("(rows read: all tables; of table: the 1M-row table's rows read back / its rows)")
}

func readBack(out []byte, table string) (rows, bigRows, bytesRead int64) {
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
				if t.Name == table {
					bigRows = t.Sampled.Rows
				}
			}
		}
	}
	return
}
