package sweep

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// attempt is one connect in flight, or a job waiting to be (re)tried.
type attempt struct {
	job      Job
	fd       int // -1 once finished
	tries    int
	deadline time.Time
}

// runFast sweeps from a single goroutine driving non-blocking sockets
// through epoll: no goroutine, no timer and no netpoller registration per
// connect, which is most of the cost of a connect that is refused at once.
// It reports false, having done nothing, where epoll is unavailable.
//
// The kernel does most of a loopback connect's work on the calling CPU, so
// one loop runs per CPU; each address belongs to one loop (by hash), which
// keeps the per-host cap exact without sharing state, and the rate and
// concurrency are split evenly among them.
func runFast(ctx context.Context, cfg Config, jobs <-chan []Job, report func(Result), st *Stats) bool {
	n := max(min(runtime.GOMAXPROCS(0), cfg.Concurrency), 1)
	if cfg.Rate > 0 {
		n = max(min(n, cfg.Rate), 1)
	}
	loops := make([]*loop, n)
	for i := range loops {
		ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			for _, l := range loops[:i] {
				unix.Close(l.ep)
			}
			return false
		}
		c := cfg
		c.Concurrency = cfg.Concurrency / n
		if i < cfg.Concurrency%n {
			c.Concurrency++
		}
		if cfg.Rate > 0 {
			c.Rate = cfg.Rate / n
			if i < cfg.Rate%n {
				c.Rate++
			}
		}
		in := make(chan []Job, 16)
		loops[i] = &loop{
			ctx: ctx, cfg: c, ep: ep, in: in, jobs: in, report: report, st: st,
			lim:  newLimiter(c.Rate),
			busy: map[netip.Addr]int{},
		}
	}
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer unix.Close(l.ep)
			l.run()
		}()
	}
	if n == 1 {
		loops[0].jobs = jobs
	} else {
		route(ctx, jobs, loops)
	}
	wg.Wait()
	return true
}

// route hands each job to the loop its address belongs to, in batches:
// a hand-over per job would wake a goroutine per job, which costs more
// than the connect.
func route(ctx context.Context, jobs <-chan []Job, loops []*loop) {
	defer func() {
		for _, l := range loops {
			close(l.in)
		}
	}()
	n := uint64(len(loops))
	for {
		var batch []Job
		var ok bool
		select {
		case batch, ok = <-jobs:
		case <-ctx.Done():
		}
		if !ok || ctx.Err() != nil {
			return
		}
		parts := make([][]Job, n)
		for _, j := range batch {
			a := j.Endpoint.IP.As16()
			h := splitmix(binary.BigEndian.Uint64(a[:8])^binary.BigEndian.Uint64(a[8:])) % n
			parts[h] = append(parts[h], j)
		}
		for i, part := range parts {
			if len(part) == 0 {
				continue
			}
			select {
			case loops[i].in <- part:
			case <-ctx.Done():
				return
			}
		}
	}
}

type loop struct {
	ctx    context.Context
	cfg    Config
	ep     int
	in     chan []Job // what route sends to jobs, when there are several loops
	jobs   <-chan []Job
	queue  []Job // received, not yet started
	report func(Result)
	st     *Stats
	lim    *limiter

	byFD     []*attempt // attempt of each fd in flight
	timeq    []*attempt // in flight, by deadline (all connects share one timeout)
	ready    []*attempt // to (re)try now: retries, and jobs a local shortage put back
	waiting  []*attempt // whose host is at its cap
	busy     map[netip.Addr]int
	scopes   map[string]uint32 // interface index of each zone seen
	inflight int
	jobsDone bool
	pauseTil time.Time // after a local shortage of ports or descriptors
}

func (l *loop) run() {
	events := make([]unix.EpollEvent, 512)
	defer l.abort()
	for {
		if l.ctx.Err() != nil {
			return
		}
		wait := l.fill(time.Now())
		idle := l.inflight == 0 && len(l.ready) == 0 && len(l.waiting) == 0 && len(l.queue) == 0
		if l.jobsDone && idle {
			return
		}
		if idle && wait == 0 {
			// Nothing to do but wait for work.
			select {
			case b, ok := <-l.jobs:
				if !ok {
					l.jobsDone = true
					continue
				}
				l.queue = b
			case <-l.ctx.Done():
				return
			}
			continue
		}
		ms := 50
		if len(l.timeq) > 0 {
			ms = min(ms, int(time.Until(l.timeq[0].deadline)/time.Millisecond)+1)
		}
		if wait > 0 {
			ms = min(ms, int(wait/time.Millisecond)+1)
		}
		if !l.jobsDone && l.inflight < l.cfg.Concurrency && wait == 0 {
			ms = min(ms, 1) // the producer may have more for us soon
		}
		n, err := unix.EpollWait(l.ep, events, max(ms, 0))
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		for _, ev := range events[:max(n, 0)] {
			l.finishFD(int(ev.Fd), ev.Events)
		}
		l.expire(time.Now())
	}
}

// fill starts connects while the caps allow; it returns how long the rate
// limit or a shortage asks to wait, or 0.
func (l *loop) fill(now time.Time) time.Duration {
	if now.Before(l.pauseTil) {
		return l.pauseTil.Sub(now)
	}
	for l.inflight < l.cfg.Concurrency {
		a := l.next()
		if a == nil {
			return 0
		}
		if ok, d := l.lim.take(now); !ok {
			l.ready = append([]*attempt{a}, l.ready...)
			return d
		}
		if !l.start(a, now) {
			l.ready = append([]*attempt{a}, l.ready...)
			l.pauseTil = now.Add(10 * time.Millisecond)
			return 10 * time.Millisecond
		}
	}
	return 0
}

// next returns the next attempt whose host has room: one put back, one
// waiting for its host, or a new job.
func (l *loop) next() *attempt {
	if len(l.ready) > 0 {
		a := l.ready[0]
		l.ready = l.ready[1:]
		if l.busy[a.job.Endpoint.IP] < l.cfg.PerHost {
			return a
		}
		l.waiting = append(l.waiting, a)
	}
	for i, a := range l.waiting {
		if l.busy[a.job.Endpoint.IP] < l.cfg.PerHost {
			l.waiting = append(l.waiting[:i], l.waiting[i+1:]...)
			return a
		}
	}
	for len(l.waiting) < l.cfg.Concurrency {
		if len(l.queue) == 0 {
			if l.jobsDone {
				return nil
			}
			select {
			case b, ok := <-l.jobs:
				if !ok {
					l.jobsDone = true
					return nil
				}
				l.queue = b
				continue
			default:
				return nil
			}
		}
		j := l.queue[0]
		l.queue = l.queue[1:]
		a := &attempt{job: j, fd: -1}
		if l.busy[j.Endpoint.IP] < l.cfg.PerHost {
			return a
		}
		l.waiting = append(l.waiting, a)
	}
	return nil
}

// start begins a connect; it reports false when a local shortage stopped
// it, and the attempt should be tried again shortly.
func (l *loop) start(a *attempt, now time.Time) bool {
	ip := a.job.Endpoint.IP
	af := unix.AF_INET
	if !ip.Is4() {
		af = unix.AF_INET6
	}
	fd, err := unix.Socket(af, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if local(err) {
			return false
		}
		l.done(a, false, err)
		return true
	}
	l.st.Started.Add(1)
	if a.tries > 0 {
		l.st.Retried.Add(1)
	}
	a.tries++
	scope, err := l.scope(ip.Zone())
	if err != nil {
		closeFD(fd)
		l.busy[ip]++
		l.done(a, false, err)
		return true
	}
	err = connect(fd, ip, scope, a.job.Endpoint.Port)
	switch {
	case err == nil:
		closeOpen(fd)
		l.busy[ip]++
		l.done(a, true, nil)
		return true
	case errors.Is(err, unix.EINPROGRESS), errors.Is(err, unix.EINTR):
	case local(err):
		closeFD(fd)
		a.tries--
		return false
	default:
		closeFD(fd)
		l.busy[ip]++
		l.done(a, false, closedErr(err))
		return true
	}
	if err := epollAdd(l.ep, fd); err != nil {
		closeFD(fd)
		a.tries--
		return false
	}
	for fd >= len(l.byFD) {
		l.byFD = append(l.byFD, make([]*attempt, len(l.byFD)+64)...)
	}
	a.fd = fd
	a.deadline = now.Add(l.cfg.Timeout)
	l.byFD[fd] = a
	l.timeq = append(l.timeq, a)
	l.inflight++
	l.busy[ip]++
	return true
}

// local reports whether a connect failed for want of something on this
// machine (a free port, a descriptor, buffers) rather than an answer.
func local(err error) bool {
	return errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.EMFILE) ||
		errors.Is(err, unix.ENFILE) || errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM)
}

// closedErr is nil for a plain refusal, the error otherwise.
func closedErr(err error) error {
	if errors.Is(err, unix.ECONNREFUSED) {
		return nil
	}
	return err
}

func (l *loop) finishFD(fd int, events uint32) {
	if fd < 0 || fd >= len(l.byFD) || l.byFD[fd] == nil {
		return
	}
	a := l.byFD[fd]
	l.byFD[fd] = nil
	a.fd = -1
	l.inflight--
	if events&(unix.EPOLLERR|unix.EPOLLHUP) == 0 {
		closeOpen(fd)
		l.done(a, true, nil)
		return
	}
	// Refused or unreachable: closed either way, but an unreachable host
	// or network is worth telling, so ask which. The kernel's own connect
	// timeout (minutes) is far beyond ours, so a timeout is always ours to
	// retry, never reported here.
	err := soError(fd)
	closeFD(fd)
	l.done(a, false, closedErr(err))
}

// soError is the error a socket's connect ended with.
func soError(fd int) error {
	var v int32
	n := uint32(unsafe.Sizeof(v))
	_, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR, uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return e
	}
	if v != 0 {
		return unix.Errno(v)
	}
	return nil
}

// scope returns the interface index of an IPv6 zone: a link-local address
// is reached through the interface its zone names, and without it the
// kernel refuses the connect (EINVAL).
func (l *loop) scope(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	if i, ok := l.scopes[zone]; ok {
		return i, nil
	}
	var index uint32
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		index = uint32(n)
	} else {
		ifc, err := net.InterfaceByName(zone)
		if err != nil {
			return 0, fmt.Errorf("zone %q: %w", zone, err)
		}
		index = uint32(ifc.Index)
	}
	if l.scopes == nil {
		l.scopes = map[string]uint32{}
	}
	l.scopes[zone] = index
	return index, nil
}

// closeOpen closes a connected socket with a reset: a swept port then
// holds no TIME_WAIT here, so a fast sweep does not run out of local ports,
// and the server sees no half-finished session.
func closeOpen(fd int) {
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	closeFD(fd)
}

// connect, closeFD and epollAdd call the kernel directly, without telling
// the Go scheduler: on a non-blocking socket they never block, and the
// scheduler's bookkeeping around a system call (handing the thread's work
// to another thread when a loopback connect runs long) cost more than the
// calls themselves.
func connect(fd int, ip netip.Addr, scope uint32, port int) error {
	var p unsafe.Pointer
	var n uintptr
	var sa4 unix.RawSockaddrInet4
	var sa6 unix.RawSockaddrInet6
	if ip.Is4() {
		sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ip.As4()}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa4.Port))[:], uint16(port))
		p, n = unsafe.Pointer(&sa4), unsafe.Sizeof(sa4)
	} else {
		sa6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ip.As16(), Scope_id: scope}
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa6.Port))[:], uint16(port))
		p, n = unsafe.Pointer(&sa6), unsafe.Sizeof(sa6)
	}
	_, _, e := unix.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(p), n)
	if e != 0 {
		return e
	}
	return nil
}

func closeFD(fd int) { unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0) }

func epollAdd(ep, fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLERR | unix.EPOLLHUP, Fd: int32(fd)}
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(ep), unix.EPOLL_CTL_ADD, uintptr(fd), uintptr(unsafe.Pointer(&ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// expire ends the connects whose deadline has passed.
func (l *loop) expire(now time.Time) {
	for len(l.timeq) > 0 {
		a := l.timeq[0]
		if a.fd < 0 {
			l.timeq = l.timeq[1:]
			continue
		}
		if now.Before(a.deadline) {
			break
		}
		l.timeq = l.timeq[1:]
		l.byFD[a.fd] = nil
		closeFD(a.fd)
		a.fd = -1
		l.inflight--
		l.retry(a)
	}
	if len(l.timeq) == 0 {
		l.timeq = nil // let the backing array go
	}
}

func (l *loop) retry(a *attempt) {
	if a.tries <= l.cfg.Retries {
		l.release(a.job.Endpoint.IP)
		l.ready = append(l.ready, a)
		return
	}
	l.done(a, false, ErrTimeout)
}

func (l *loop) release(ip netip.Addr) {
	if l.busy[ip]--; l.busy[ip] <= 0 {
		delete(l.busy, ip)
	}
}

func (l *loop) done(a *attempt, open bool, err error) {
	l.release(a.job.Endpoint.IP)
	l.st.Done.Add(1)
	if open {
		l.st.Open.Add(1)
	}
	l.report(Result{Job: a.job, Open: open, Err: err})
}

// abort closes what is in flight when the sweep is cancelled; those
// endpoints are not reported, so a resumed scan tries them again.
func (l *loop) abort() {
	for _, a := range l.timeq {
		if a.fd >= 0 {
			closeFD(a.fd)
		}
	}
}
