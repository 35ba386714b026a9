// Command postgres measures a full assessment of the lab's open
// PostgreSQL server through the driver (probe, open, server id,
// privileges, inventory, a sample of every table with the default rules'
// keywords), and the rows and bytes read back from the 1M-row chat_logs.
// The lab must be up (scripts/lab up postgresql).
//
//	go run ./bench/postgres [-runs 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"time"

	"github.com/leakhound/leakhound/internal/classify"
	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/datastore/postgres"
	"github.com/leakhound/leakhound/internal/lab"
)

func main() {
	runs := flag.Int("runs", 3, "assessments to time")
	flag.Parse()
	e := classify.Default()
	kws, pats := e.Pushdown()
	_ = pats // RE2; the scanner translates them, this bench pushes keywords only
	lim := datastore.Limits{Rows: 3, Random: 5, Bytes: 8 << 20, Timeout: 10 * time.Second,
		Keywords: append(kws, classify.ChatKeywords()...), Exact: map[string]datastore.Match{}}
	for _, r := range e.Rules() {
		if len(r.Keywords) > 0 {
			lim.Exact["rule:"+r.ID] = datastore.Match{Keywords: r.Keywords, Pattern: r.Pattern}
		}
	}
	ep := datastore.Endpoint{Host: lab.PGOpen.Host, IP: net.ParseIP(lab.PGOpen.Host), Port: lab.PGOpen.Port}
	var times []time.Duration
	var chat datastore.Rows
	for range *runs {
		start := time.Now()
		rows, err := assess(ep, lim)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		times = append(times, time.Since(start))
		chat = rows
	}
	slices.Sort(times)
	fmt.Printf("full assessment of %s: median %s of %d runs (min %s, max %s)\n", ep, times[len(times)/2].Round(time.Millisecond), len(times),
		times[0].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
	fmt.Printf("chat_logs (%d rows): %d rows, %d bytes read back (%.3f%% of its rows)\n", lab.ChatLogsRows, chat.ReadRows, chat.ReadBytes,
		float64(chat.ReadRows)*100/lab.ChatLogsRows)
}

// assess runs one full assessment and returns what chat_logs' Sample read.
func assess(ep datastore.Endpoint, lim datastore.Limits) (datastore.Rows, error) {
	ctx := context.Background()
	var chat datastore.Rows
	svc, err := postgres.Driver{}.Probe(ctx, ep, datastore.FirstLook{}, 10*time.Second)
	if err != nil || svc == nil || svc.Auth != datastore.AuthNone {
		return chat, fmt.Errorf("probe %s: %+v, %v (is the lab up?)", ep, svc, err)
	}
	sess, err := postgres.Driver{}.Open(ctx, svc, 10*time.Second)
	if err != nil {
		return chat, err
	}
	defer sess.Close()
	if _, err := sess.ServerID(ctx); err != nil {
		return chat, err
	}
	if _, err := sess.Privileges(ctx); err != nil {
		return chat, err
	}
	inv, err := sess.Inventory(ctx)
	if err != nil {
		return chat, err
	}
	for _, db := range inv.Databases {
		for _, t := range db.Tables {
			if db.System || t.Rows == 0 {
				continue
			}
			rows, err := sess.Sample(ctx, t, lim)
			if err != nil {
				return chat, err
			}
			if db.Name == lab.SQLDatabase && t.Name == "chat_logs" {
				chat = rows
			}
		}
	}
	return chat, nil
}
