// Package redistest runs a private redis-server for tests.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// EnvURL names the environment variable that points the tests at an
// existing Redis instead of a private redis-server. That server must be
// dedicated to the tests, which flush it, and packages that use it must
// not run in parallel (go test -p 1).
const EnvURL = "RZPGATE_TEST_REDIS_URL"

// startTimeout bounds how long Start and Restart wait for a PING answer.
const startTimeout = 10 * time.Second

// Server is a redis-server started for one test, or the server named by
// EnvURL. Its methods are safe for concurrent use.
type Server struct {
	tb   testing.TB
	url  string // url is the redis:// URL clients connect to.
	addr string // addr is host:port.
	dir  string // dir is the private working directory; "" for EnvURL.
	port int    // port is the listening port; 0 for EnvURL.

	// mu guards cmd and exited.
	mu     sync.Mutex
	cmd    *exec.Cmd     // cmd is the running process, nil when stopped.
	exited chan struct{} // exited is closed once cmd has been reaped.
}

// Start starts a redis-server on a free 127.0.0.1 port with persistence
// off, waits until it answers PING and stops it when the test ends. If
// EnvURL is set it uses that server instead. Without either it skips the
// test, or fails it when CI is "true" so that a CI runner missing
// redis-server cannot pass by skipping every Redis test.
func Start(tb testing.TB) *Server {
	tb.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			tb.Fatalf("redistest: parsing %s: %v", EnvURL, err)
		}
		s := &Server{tb: tb, url: u, addr: opt.Addr}
		if err := s.ping(startTimeout); err != nil {
			tb.Fatalf("redistest: %s=%s does not answer: %v", EnvURL, u, err)
		}
		s.FlushAll(tb) // Every test starts with an empty server.
		return s
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		msg := "REDIS TESTS SKIPPED: redis-server is not on PATH; install it (apt-get install redis-server) or set " + EnvURL
		if os.Getenv("CI") == "true" {
			tb.Fatal("redistest: CI=true but redis-server is not on PATH: install redis-server in the CI image")
		}
		tb.Skip(msg)
	}
	s := &Server{tb: tb, dir: tb.TempDir()}
	var err error
	for range 5 { // Another process may grab the free port first.
		s.port, err = freePort()
		if err != nil {
			tb.Fatalf("redistest: finding a free port: %v", err)
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		s.url = "redis://" + s.addr
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("redistest: starting redis-server: %v", err)
	}
	tb.Cleanup(s.kill)
	return s
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return s.addr }

// URL returns the server's redis:// URL.
func (s *Server) URL() string { return s.url }

// Client returns a client of the server that honours context deadlines
// (ContextTimeoutEnabled, as the gateway sets), closed when the test ends.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(s.url)
	if err != nil {
		tb.Fatalf("redistest: parsing %s: %v", s.url, err)
	}
	// Honour context deadlines, as the gateway's client does, so a paused
	// server costs a caller its deadline rather than the read timeout.
	opt.ContextTimeoutEnabled = true
	c := redis.NewClient(opt)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// FlushAll deletes every key of the server.
func (s *Server) FlushAll(tb testing.TB) {
	tb.Helper()
	c := s.Client(tb)
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := c.FlushAll(ctx).Err(); err != nil {
		tb.Fatalf("redistest: flushing %s: %v", s.addr, err)
	}
}

// Shared reports whether the server is the one named by EnvURL, which
// Stop, Restart, Pause and Resume refuse to touch. A test that calls them
// from a subtest should check Shared and skip the subtest itself: they
// skip through the test that called Start, which works only on its own
// goroutine.
func (s *Server) Shared() bool { return s.dir == "" }

// Stop kills the server and waits for it to exit. Its data is lost.
func (s *Server) Stop() {
	s.tb.Helper()
	s.own("Stop")
	s.kill()
}

// Restart starts the server again on the same port and waits until it
// answers PING. It stops the server first if it is running.
func (s *Server) Restart() {
	s.tb.Helper()
	s.own("Restart")
	s.kill()
	if err := s.start(); err != nil {
		s.tb.Fatalf("redistest: restarting redis-server: %v", err)
	}
}

// Pause stops the server with SIGSTOP: it keeps its connections and data
// but answers nothing, like a Redis stalled by a slow command or a fork.
func (s *Server) Pause() {
	s.tb.Helper()
	s.own("Pause")
	s.signal(syscall.SIGSTOP)
}

// Resume continues a paused server with SIGCONT.
func (s *Server) Resume() {
	s.tb.Helper()
	s.own("Resume")
	s.signal(syscall.SIGCONT)
}

// own skips the test if the server is not ours to stop or pause.
func (s *Server) own(op string) {
	s.tb.Helper()
	if s.Shared() {
		s.tb.Skipf("redistest: %s needs a private redis-server, but %s points at a shared one", op, EnvURL)
	}
}

func (s *Server) signal(sig syscall.Signal) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.tb.Fatalf("redistest: sending %v: redis-server is not running", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.tb.Fatalf("redistest: sending %v: %v", sig, err)
	}
}

// start runs redis-server on s.port and waits for PING.
func (s *Server) start() error {
	logFile := filepath.Join(s.dir, "redis.log")
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
		"--logfile", logFile,
	)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running redis-server: %w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(startTimeout)
	for {
		if err := s.ping(100 * time.Millisecond); err == nil {
			break
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile)
			return fmt.Errorf("redis-server exited (%v): %s", waitErr, log)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s did not answer PING within %v", s.addr, startTimeout)
		}
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

// kill stops the process, if any, and waits until it is gone.
func (s *Server) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill() // SIGKILL also ends a stopped process.
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// ping waits up to timeout for the server to answer PING.
func (s *Server) ping(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	opt, err := redis.ParseURL(s.url)
	if err != nil {
		return fmt.Errorf("parsing url: %w", err)
	}
	opt.MaxRetries = -1
	opt.DialTimeout = timeout
	opt.ContextTimeoutEnabled = true
	c := redis.NewClient(opt)
	defer c.Close()
	return c.Ping(ctx).Err()
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
