package lab

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrForeign means a server answering on a lab address is not the lab's
// own (someone else's PostgreSQL on 127.0.0.8, say): tests against it
// would test the wrong thing, and a down or a seed would touch it.
var ErrForeign = errors.New("not the lab's own server")

// Verify reports whether the ClickHouse server answering on s's ports is
// the lab's own: the clickhouse-server started with the config the lab
// wrote into s's directory holds the listening sockets, and the lab's admin
// (from the users.xml the lab wrote) gets in. The server's tables are left
// as they are: Debian's ClickHouse 18.16 has no displayName() to read a
// stamp from.
func (s Server) Verify(ctx context.Context) error {
	pid, _ := readPid(filepath.Join(s.dir(), "pid"))
	for _, port := range []int{s.HTTPPort, s.NativePort} {
		if err := listenerOwnedBy(s.Host, port, pid, s.Name); err != nil {
			return err
		}
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if cfg := "--config-file=" + filepath.Join(s.dir(), "config.xml"); !bytes.Contains(cmdline, []byte(cfg)) {
		return fmt.Errorf("%s on %s: pid %d was not started with %s: %w", s.Name, s.Host, pid, cfg, ErrForeign)
	}
	if _, err := s.Admin(ctx, "SELECT 1"); err != nil {
		return fmt.Errorf("%s: the lab's admin: %w", s.Name, err)
	}
	return nil
}

// readPid reads the pid on the first line of file (postmaster.pid has
// more lines after it).
func readPid(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, fmt.Errorf("%s: %w", file, err)
	}
	return pid, nil
}

// listenInodes returns the socket inodes listening on TCP host:port, a
// wildcard listener on port included (it answers on host too).
func listenInodes(host string, port int) map[string]bool {
	ip := net.ParseIP(host)
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" { // 0A is LISTEN
				continue
			}
			addr, p, ok := strings.Cut(fs[1], ":")
			if !ok {
				continue
			}
			if n, err := strconv.ParseUint(p, 16, 16); err != nil || int(n) != port {
				continue
			}
			if lip := procIP(addr); lip != nil && (lip.IsUnspecified() || lip.Equal(ip)) {
				inodes[fs[9]] = true
			}
		}
	}
	return inodes
}

// procIP decodes an address of /proc/net/tcp{,6}: 32-bit words in host
// (little-endian here) byte order.
func procIP(s string) net.IP {
	b, err := hex.DecodeString(s)
	if err != nil || (len(b) != 4 && len(b) != 16) {
		return nil
	}
	ip := make(net.IP, len(b))
	for i := 0; i < len(b); i += 4 {
		binary.BigEndian.PutUint32(ip[i:], binary.LittleEndian.Uint32(b[i:]))
	}
	return ip
}

// holds reports whether process pid has one of inodes open.
func holds(pid int, inodes map[string]bool) bool {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false
	}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") && inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
			return true
		}
	}
	return false
}

// holder names the process that holds one of inodes, for a message.
func holder(inodes map[string]bool) string {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || !holds(pid, inodes) {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		return fmt.Sprintf("pid %d (%s)", pid, strings.TrimSpace(string(comm)))
	}
	return "a process this user cannot see"
}

// listenerOwnedBy checks that the socket listening on host:port belongs to
// pid, the lab's server name.
func listenerOwnedBy(host string, port, pid int, name string) error {
	inodes := listenInodes(host, port)
	if len(inodes) == 0 {
		return fmt.Errorf("%s: nothing listens on %s:%d", name, host, port)
	}
	if pid > 0 && holds(pid, inodes) {
		return nil
	}
	lab := "the lab started none (no pid file)"
	if pid > 0 {
		lab = fmt.Sprintf("the lab's is pid %d", pid)
	}
	return fmt.Errorf("%s: %s:%d is served by %s, and %s: %w", name, host, port, holder(inodes), lab, ErrForeign)
}

// checkFree fails when something listens on host:port already: a lab
// server that does not answer its admin must not be started over another.
func checkFree(host string, port int) error {
	if inodes := listenInodes(host, port); len(inodes) > 0 {
		return fmt.Errorf("%s:%d is taken by %s: %w", host, port, holder(inodes), ErrForeign)
	}
	return nil
}

// stopPidSignal stops the process named in file's first line with sig,
// then SIGKILL after 10 s, if its command line names one of names: a stale
// pid file (after a reboot) may name another process now.
func stopPidSignal(file string, sig syscall.Signal, names ...string) error {
	pid, err := readPid(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	ours := false
	for _, n := range names {
		ours = ours || bytes.Contains(cmdline, []byte(n))
	}
	if !ours {
		os.Remove(file)
		return nil
	}
	p, _ := os.FindProcess(pid)
	if p.Signal(sig) != nil {
		os.Remove(file)
		return nil // already gone
	}
	for range 100 {
		if p.Signal(syscall.Signal(0)) != nil {
			os.Remove(file)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.Signal(syscall.SIGKILL)
	os.Remove(file)
	return nil
}
