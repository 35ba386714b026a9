// Command sampling measures what sampling the lab's 1M-row table confirms,
// and what it reads back, with and without fetching rows by the distinct
// values of each rule's pattern (datastore.Limits.Distinct): ClickHouse's
// log_stream through each protocol, PostgreSQL's and MariaDB's chat_logs.
// Both modes run in one binary, under the scanner's default limits
// (--sample-rows 20, --random-rows 100, --max-read 16 MiB); "keywords" is
// the sampling of before, a few rows per keyword. It prints medians over
// the runs, and which planted kinds, crowded rules and connection-string
// schemes (lab.CrowdedKinds, lab.CrowdedRules, lab.ConnectionSchemes) a
// mode missed in any run. The lab must be up.
//
//	go run ./bench/sampling [-runs 5] [-only clickhouse-http,postgresql] [-mode distinct]
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	_ "github.com/leakhound/leakhound/internal/datastore/all"
	"github.com/leakhound/leakhound/internal/lab"
)

type target struct {
	name, driver, host string
	port               int
	db, table          string
}

// result is what one Sample of the big table confirmed and cost.
type result struct {
	rows, bytes int64
	took        time.Duration
	kinds       map[string]bool // kinds with a detection
	rules       map[string]bool
	schemes     map[string]bool // of connection strings found
}

func main() {
	runs := flag.Int("runs", 5, "runs per server and mode")
	only := flag.String("only", "", "comma-separated servers to measure (default all)")
	mode := flag.String("mode", "", "keywords or distinct: measure one mode only (default both)")
	flag.Parse()
	targets := []target{
		{"clickhouse-http", "clickhouse", lab.Open.Host, lab.Open.HTTPPort, "default", "log_stream"},
		{"clickhouse-native", "clickhouse", lab.Open.Host, lab.Open.NativePort, "default", "log_stream"},
		{"postgresql", "postgresql", lab.PGOpen.Host, lab.PGOpen.Port, lab.SQLDatabase, "chat_logs"},
		{"mariadb", "mysql", lab.MariaDBOpen.Host, lab.MariaDBOpen.Port, lab.SQLDatabase, "chat_logs"},
	}
	planted := slices.Concat(lab.SecretKinds, lab.PIIKinds, lab.CrowdedKinds)
	fmt.Printf("sampling the lab's 1M-row table, %d runs per server and mode; medians\n", *runs)
	fmt.Printf("%-18s %-9s %8s %9s %10s %14s %12s %13s  %s\n", "server", "mode", "time", "rows", "bytes", "kinds planted", "rules crowd", "schemes", "missed in any run")
	for _, tg := range targets {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), tg.name) {
			continue
		}
		for _, distinct := range modes(*mode) {
			mode := map[bool]string{false: "keywords", true: "distinct"}[distinct]
			var rs []result
			for range *runs {
				r, err := measure(tg, distinct)
				if err != nil {
					fmt.Fprintf(os.Stderr, "bench: %s: %v\n", tg.name, err)
					os.Exit(1)
				}
				rs = append(rs, r)
			}
			var missed []string
			miss := func(what string, want []string, got func(result) map[string]bool) []int {
				var ns []int
				for _, r := range rs {
					n := 0
					for _, w := range want {
						if got(r)[w] {
							n++
						} else if m := what + w; !slices.Contains(missed, m) {
							missed = append(missed, m)
						}
					}
					ns = append(ns, n)
				}
				return ns
			}
			kinds := miss("", planted, func(r result) map[string]bool { return r.kinds })
			rules := miss("rule:", lab.CrowdedRules, func(r result) map[string]bool { return r.rules })
			schemes := miss("scheme:", lab.ConnectionSchemes, func(r result) map[string]bool { return r.schemes })
			fmt.Printf("%-18s %-9s %8s %9d %10d %11d/%-2d %10d/%-1d %11d/%-1d  %s\n", tg.name, mode,
				median(rs, func(r result) int64 { return int64(r.took) }, func(n int64) string { return time.Duration(n).Round(time.Millisecond).String() }),
				medianInt(rs, func(r result) int64 { return r.rows }), medianInt(rs, func(r result) int64 { return r.bytes }),
				medianOf(kinds), len(planted), medianOf(rules), len(lab.CrowdedRules), medianOf(schemes), len(lab.ConnectionSchemes),
				strings.Join(missed, " "))
		}
	}
	fmt.Println("(rows, bytes: read back from the 1M-row table; kinds planted: lab.SecretKinds, PIIKinds, CrowdedKinds)")
}

// measure opens a session, samples the big table once as the scanner
// would, and classifies what was read back.
func measure(tg target, distinct bool) (result, error) {
	ctx := context.Background()
	const timeout = 120 * time.Second
	d, ok := datastore.Lookup(tg.driver)
	if !ok {
		return result{}, fmt.Errorf("no driver %s", tg.driver)
	}
	ep := datastore.Endpoint{Host: tg.host, IP: net.ParseIP(tg.host), Port: tg.port}
	svc, err := d.Probe(ctx, ep, datastore.FirstLook{}, timeout)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone {
		return result{}, fmt.Errorf("probe %s: %v (is the lab up?)", ep, err)
	}
	sess, err := d.Open(ctx, svc, timeout)
	if err != nil {
		return result{}, err
	}
	defer sess.Close()
	inv, err := sess.Inventory(ctx)
	if err != nil {
		return result{}, err
	}
	var big *datastore.Table
	for _, db := range inv.Databases {
		for _, t := range db.Tables {
			if t.Name == tg.table && db.Name == tg.db {
				t := t
				if t.Database == "" {
					t.Database = db.Name
				}
				big = &t
			}
		}
	}
	if big == nil {
		return result{}, fmt.Errorf("no table %s.%s in the inventory", tg.db, tg.table)
	}
	key, err := classify.NewKey()
	if err != nil {
		return result{}, err
	}
	e := classify.Default().WithKey(key) // detections are told apart by fingerprint
	lim, _ := e.Limits(datastore.Limits{Rows: 20, Random: 100, Bytes: 16 << 20, Timeout: timeout}, sess.Pushdown())
	if !distinct {
		lim.Distinct = nil
	}
	start := time.Now()
	rows, err := sess.Sample(ctx, *big, lim)
	took := time.Since(start)
	if err != nil {
		return result{}, err
	}
	r := result{rows: rows.ReadRows, bytes: rows.ReadBytes, took: took, kinds: map[string]bool{}, rules: map[string]bool{}, schemes: map[string]bool{}}
	tb := *big
	for _, f := range e.Size(&tb, rows, classify.Server, 0) {
		r.kinds[f.Kind] = true
		r.rules[f.Rule] = true
	}
	// Schemes are read from the values in memory; only their names leave.
	for _, row := range rows.Values {
		for _, v := range row {
			for _, d := range e.Scan(v) {
				if d.Kind == "connection_string" {
					s, _, _ := strings.Cut(v[d.Start:d.End], "://")
					r.schemes[strings.TrimSuffix(s, "ql")] = true
				}
			}
		}
	}
	return r, nil
}

// modes are the modes measured: -mode distinct or keywords runs one.
func modes(mode string) []bool {
	switch mode {
	case "distinct":
		return []bool{true}
	case "keywords":
		return []bool{false}
	}
	return []bool{false, true}
}

func medianInt(rs []result, f func(result) int64) int64 {
	var xs []int64
	for _, r := range rs {
		xs = append(xs, f(r))
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

func median(rs []result, f func(result) int64, show func(int64) string) string {
	return show(medianInt(rs, f))
}

func medianOf(xs []int) int {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
