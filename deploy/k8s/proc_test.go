package k8s

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binDir is where `make k8s-tools` puts kube-apiserver, kubectl and helm.
const binDir = "../bin"

// tool returns the path of a binary the tests need: etcd from PATH (Debian's
// etcd-server), the others from deploy/bin. Without it the test skips with a
// loud message, or fails when CI is "true", so that a CI machine missing a
// tool cannot pass by skipping.
func tool(tb testing.TB, name string) string {
	tb.Helper()
	var path string
	if name == "etcd" {
		path, _ = exec.LookPath(name)
	} else if p, err := filepath.Abs(filepath.Join(binDir, name)); err == nil && isExecutable(p) {
		path = p
	}
	if path != "" {
		return path
	}
	missing := "deploy/bin/" + name + " is missing"
	if name == "etcd" {
		missing = "etcd is not on PATH"
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true but %s: run make k8s-tools", missing)
	}
	tb.Skipf("K8S TESTS SKIPPED: %s; run make k8s-tools (or make test-k8s)", missing)
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// proc is a server process started for a test, its output in a log file.
type proc struct {
	name   string
	cmd    *exec.Cmd
	log    string        // log is the path of its combined output.
	exited chan struct{} // exited is closed once cmd has been reaped.
	err    error         // err is cmd.Wait's result, set before exited closes.
}

// startProc starts a server process whose output goes to dir/name.log. The
// process gets SIGKILL if the test binary dies first (see sysProcAttr).
func startProc(dir, name string, args ...string) (*proc, error) {
	p := &proc{name: filepath.Base(name), log: filepath.Join(dir, filepath.Base(name)+".log"), exited: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		return nil, fmt.Errorf("creating log: %w", err)
	}
	defer f.Close()
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("running %s: %w", p.name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	return p, nil
}

// waitReady polls ready until it succeeds, the process exits or timeout
// passes; the error carries the end of the process's log.
func (p *proc) waitReady(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%v):\n%s", p.name, p.err, p.tail())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %v (%v):\n%s", p.name, timeout, err, p.tail())
		}
	}
}

// stop sends SIGTERM, then SIGKILL if the process has not exited within
// ten seconds, and waits until it is gone.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// tail returns the last lines of the process's log.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// run runs a command with a bound on its time and stdin from stdin, and
// returns what it wrote to stdout and to stderr.
func run(timeout time.Duration, stdin string, name string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return "", "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
		err = errors.New("timed out after " + timeout.String())
	}
	return out.String(), errOut.String(), err
}

// freePort asks the kernel for an unused 127.0.0.1 port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
