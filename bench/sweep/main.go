// Command sweep measures leakhound's TCP connect sweep against naabu's
// connect scan on the same loopback range and ports, in one run: endpoints
// per second (median of -runs), the ratio, whether both found the same open
// ports, and peak memory; then the memory of a /8 against a /24.
//
//	go build -o bin/leakhound ./cmd/leakhound
//	go run ./bench/sweep -leakhound bin/leakhound -naabu /path/to/naabu
//
// Everything it sweeps is on loopback (127.0.0.0/8), where the lab's
// servers are the open ports. Each tool runs at its fastest safe settings:
// no rate limit, many connects in flight, one retry, a 1 s timeout.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	var o options
	flag.StringVar(&o.leakhound, "leakhound", "bin/leakhound", "leakhound binary")
	flag.StringVar(&o.naabu, "naabu", "", "naabu binary (empty: leakhound alone)")
	flag.StringVar(&o.cidr, "range", "127.0.0.0/16", "loopback range to sweep")
	flag.StringVar(&o.ports, "p", "8123,9000,8443,9440", "ports")
	flag.IntVar(&o.runs, "runs", 5, "runs per tool; the median is reported")
	flag.IntVar(&o.concurrency, "c", 1000, "leakhound's connects in flight")
	flag.StringVar(&o.naabuRates, "naabu-rates", "100000,50000,30000,20000,10000,5000", "naabu -rate values to try, fastest first (its rate is also its concurrency); the fastest that finds every open port leakhound found is measured")
	flag.StringVar(&o.naabuUser, "naabu-user", "65534", "when run as root, run naabu as this uid (setpriv): as root it opens pcap taps on every interface, which tax every loopback packet")
	flag.DurationVar(&o.memFor, "mem-for", 20*time.Second, "how long to sweep a /8 for the memory check (0: skip)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	leakhound, naabu, cidr, ports string
	runs, concurrency             int
	naabuRates, naabuUser         string
	naabuRate                     int
	memFor                        time.Duration
}

type result struct {
	wall  time.Duration
	rssKB int64
	open  []string
}

func run(o options) error {
	p, err := netip.ParsePrefix(o.cidr)
	if err != nil || !netip.MustParsePrefix("127.0.0.0/8").Contains(p.Addr()) || p.Bits() < 8 {
		return fmt.Errorf("-range %q: only loopback ranges (within 127.0.0.0/8) may be swept", o.cidr)
	}
	dir, err := os.MkdirTemp("", "bench-sweep")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	nports := len(strings.Split(o.ports, ","))
	hosts := uint64(1) << (32 - p.Bits())
	endpoints := hosts * uint64(nports)
	fmt.Printf("sweep of %s × %d ports = %d endpoints, %d runs each; leakhound --concurrency %d --rate 0\n\n",
		o.cidr, nports, endpoints, o.runs, o.concurrency)

	tools := []struct {
		name string
		cmd  func(out string) *exec.Cmd
	}{
		{"leakhound", func(out string) *exec.Cmd {
			return exec.Command(o.leakhound, "scan", o.cidr, "-p", o.ports, "--rate", "0", "--concurrency", fmt.Sprint(o.concurrency),
				"--per-host", "8", "--retries", "1", "--connect-timeout", "1s", "--no-sample", "-q", "-f", "jsonl", "-o", os.DevNull, "--open", out)
		}},
	}
	if o.naabu != "" {
		tools = append(tools, struct {
			name string
			cmd  func(out string) *exec.Cmd
		}{"naabu", func(out string) *exec.Cmd {
			// -timeout takes a duration (a bare number is seconds); the
			// warm-up cannot go below 1 s; -duc skips the update check.
			args := []string{o.naabu, "-host", o.cidr, "-p", o.ports, "-s", "c", "-rate", fmt.Sprint(o.naabuRate),
				"-retries", "1", "-timeout", "1s", "-warm-up-time", "1", "-silent", "-nc", "-duc", "-no-stdin", "-o", out}
			if os.Geteuid() == 0 && o.naabuUser != "" {
				os.Chmod(filepath.Dir(out), 0o777)
				args = append([]string{"setpriv", "--reuid=" + o.naabuUser, "--regid=" + o.naabuUser, "--clear-groups"}, args...)
			}
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = append(os.Environ(), "DISABLE_CLOUD_UPLOAD_WRN=true", "HOME="+filepath.Dir(out))
			return cmd
		}})
	}
	// One leakhound run first, for the open ports naabu must match; then
	// the tools' runs alternate, so the machine's noise falls on both.
	first := filepath.Join(dir, "leakhound-first.txt")
	ref, err := measure(tools[0].cmd(first), first)
	if err != nil {
		return fmt.Errorf("leakhound: %w", err)
	}
	if len(tools) > 1 {
		if err := o.pickNaabuRate(dir, tools[1].cmd, ref.open); err != nil {
			return err
		}
	}
	all := map[string][]result{}
	for i := range o.runs {
		for _, t := range tools {
			out := filepath.Join(dir, fmt.Sprintf("%s-%d.txt", t.name, i))
			r, err := measure(t.cmd(out), out)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if !slices.Equal(r.open, ref.open) {
				fmt.Printf("%s run %d found %d open ports of %d\n", t.name, i+1, len(r.open), len(ref.open))
			}
			all[t.name] = append(all[t.name], r)
		}
	}
	medians := map[string]result{}
	for _, t := range tools {
		rs := all[t.name]
		slices.SortFunc(rs, func(a, b result) int { return int(a.wall - b.wall) })
		m := rs[len(rs)/2]
		medians[t.name] = m
		fmt.Printf("%-10s median %6.2f s (%.2f–%.2f)  %9.0f endpoints/s  peak RSS %4d MB  %d open\n",
			t.name, m.wall.Seconds(), rs[0].wall.Seconds(), rs[len(rs)-1].wall.Seconds(), float64(endpoints)/m.wall.Seconds(), m.rssKB/1024, len(m.open))
	}
	if n, ok := medians["naabu"]; ok {
		l := medians["leakhound"]
		fmt.Printf("\nratio (leakhound endpoints/s ÷ naabu's at -rate %d): %.2f×\n", o.naabuRate, n.wall.Seconds()/l.wall.Seconds())
		if slices.Equal(l.open, n.open) {
			fmt.Printf("open ports: the same %d found by both: %s\n", len(l.open), strings.Join(l.open, " "))
		} else {
			fmt.Printf("open ports DIFFER:\n  leakhound: %s\n  naabu:     %s\n", strings.Join(l.open, " "), strings.Join(n.open, " "))
		}
	}
	if o.memFor > 0 {
		fmt.Printf("\nmemory, leakhound sweeping for %s or to the end:\n", o.memFor)
		for _, r := range []string{"127.0.0.0/24", "127.0.0.0/8"} {
			cmd := exec.Command(o.leakhound, "scan", r, "-p", o.ports, "--rate", "0", "--concurrency", fmt.Sprint(o.concurrency),
				"--no-sample", "-q", "-f", "jsonl", "-o", os.DevNull)
			res, err := measureFor(cmd, o.memFor)
			if err != nil {
				return err
			}
			fmt.Printf("  %-14s peak RSS %3d MB after %.1f s\n", r, res.rssKB/1024, res.wall.Seconds())
		}
	}
	return nil
}

// pickNaabuRate tries naabu's rates fastest first, once each, and keeps the
// first that finds every open port in want: faster settings that miss open
// ports are not safe settings.
func (o *options) pickNaabuRate(dir string, cmd func(string) *exec.Cmd, want []string) error {
	for _, s := range strings.Split(o.naabuRates, ",") {
		var rate int
		if _, err := fmt.Sscan(strings.TrimSpace(s), &rate); err != nil || rate <= 0 {
			return fmt.Errorf("-naabu-rates: %q is not a rate", s)
		}
		o.naabuRate = rate
		ok := true
		for try := range 2 { // twice: a rate that finds everything once may not the next time
			out := filepath.Join(dir, fmt.Sprintf("naabu-rate-%d-%d.txt", rate, try))
			r, err := measure(cmd(out), out)
			if err != nil {
				return fmt.Errorf("naabu: %w", err)
			}
			if !slices.Equal(r.open, want) {
				fmt.Printf("naabu -rate %d: %.2f s, found %d of %d open ports: too fast to be safe\n", rate, r.wall.Seconds(), len(r.open), len(want))
				ok = false
				break
			}
		}
		if ok {
			fmt.Printf("naabu -rate %d found all %d open ports twice: measuring at this rate\n", rate, len(want))
			return nil
		}
	}
	return fmt.Errorf("naabu found the open ports at none of -naabu-rates %s", o.naabuRates)
}

// measure runs cmd to its end and reads the open ports it wrote to out.
func measure(cmd *exec.Cmd, out string) (result, error) {
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{wall: time.Since(start)}
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		return r, fmt.Errorf("%v: %s", err, stderr.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rssKB = ru.Maxrss
	}
	f, err := os.Open(out)
	if err != nil {
		return r, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			r.open = append(r.open, line)
		}
	}
	slices.Sort(r.open)
	r.open = slices.Compact(r.open)
	return r, nil
}

// measureFor runs cmd for at most d, then interrupts it.
func measureFor(cmd *exec.Cmd, d time.Duration) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			cmd.Process.Signal(os.Interrupt)
		case <-done:
		}
	}()
	cmd.Wait()
	close(done)
	r := result{wall: time.Since(start)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.rssKB = ru.Maxrss
	}
	return r, nil
}
