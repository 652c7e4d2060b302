package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a program under test (or a peer) that the harness started and
// will stop.
type Process struct {
	Name   string
	Pid    int
	cmd    *exec.Cmd
	log    string        // the file its stderr (and stdout unless discarded) go to
	exited chan struct{} // closed when it has exited
	err    error         // its exit status, once exited is closed
}

// spec says how to start a Process.
type spec struct {
	name string
	argv []string
	env  []string // added to the harness's own environment
	dir  string   // where its log goes
	// quiet sends stdout to /dev/null: the gateway's access log at info
	// level would otherwise fill the disk (gigabytes in a full run), and
	// cost a file write per batch that nginx (access log off) does not pay.
	quiet bool
}

// start starts s and returns once it is running; the caller waits for its
// port.
func start(s spec) (*Process, error) {
	logPath := filepath.Join(s.dir, sanitize(s.name)+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating log of %s: %w", s.name, err)
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stderr = logf
	if !s.quiet {
		cmd.Stdout = logf
	}
	// The child dies with the harness, so an interrupted run leaves no
	// process holding ports or memory.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", s.name, err)
	}
	p := &Process{Name: s.name, Pid: cmd.Process.Pid, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// sanitize makes name usable as a file name.
func sanitize(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, name)
}

// Stop sends SIGTERM to p's process group and waits up to 10 s for it to
// exit, then kills the group.
func (p *Process) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	syscall.Kill(-p.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-p.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// Alive reports whether p is still running.
func (p *Process) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// tail returns the end of p's log, for error messages.
func (p *Process) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// waitPort waits until addr accepts TCP connections, p exits, or timeout.
func (p *Process) waitPort(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if !p.Alive() {
			return fmt.Errorf("%s exited (%v) before listening on %s: %s", p.Name, p.err, addr, p.tail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %v: %s", p.Name, addr, timeout, p.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port free at the time of the
// call.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// userHZ is the unit of /proc/<pid>/stat's times; Linux fixes it at 100
// for user space whatever the kernel's own tick.
const userHZ = 100

// CPU returns the user plus system CPU time p and its descendants (nginx's
// workers) have used so far.
func (p *Process) CPU() (time.Duration, error) {
	pids := append([]int{p.Pid}, descendants(p.Pid)...)
	var total time.Duration
	for _, pid := range pids {
		t, err := cpuTime(pid)
		if err != nil {
			if pid == p.Pid {
				return 0, err
			}
			continue // a child that exited meanwhile
		}
		total += t
	}
	return total, nil
}

// cpuTime reads utime and stime of one process.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("reading CPU time: %w", err)
	}
	f, err := statFields(b)
	if err != nil {
		return 0, err
	}
	// Fields 14 and 15 (1-based) are utime and stime: f[0] is field 3.
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}

// statFields returns the fields of /proc/<pid>/stat after the command
// name, which may itself hold spaces and parentheses: f[0] is the state
// (field 3).
func statFields(b []byte) ([]string, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return nil, errors.New("short /proc stat")
	}
	return f, nil
}

// descendants returns the pids of every process below pid.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		f, err := statFields(b)
		if err != nil {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			children[ppid] = append(children[ppid], child)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		kids := children[queue[0]]
		queue = append(queue[1:], kids...)
		out = append(out, kids...)
	}
	return out
}

// RSS returns p's resident set size in bytes (VmRSS), without children.
func (p *Process) RSS() (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("reading RSS: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// waitHTTP polls url until it answers 200, p exits, or timeout.
func (p *Process) waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		status, err := getStatus(ctx, url)
		if err == nil && status == 200 {
			return nil
		}
		if !p.Alive() {
			return fmt.Errorf("%s exited (%v): %s", p.Name, p.err, p.tail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %s not ready after %v (status %d, %v): %s", p.Name, url, timeout, status, err, p.tail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
