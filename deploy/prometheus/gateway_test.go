package prometheus

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildGateway builds the gateway's binary from the root module's
// directory, with the root module's own dependency versions: the binary
// operators run, not one built with this module's requirements.
func buildGateway(tb testing.TB) string {
	tb.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("go is not on PATH: %v", err)
	}
	out, err := run(tb, time.Minute, goBin, "list", "-m", "-f", "{{.Dir}}", "github.com/rzpgate/rzpgate")
	if err != nil {
		tb.Fatalf("finding the gateway's module: %v\n%s", err, out)
	}
	root := strings.TrimSpace(out)
	bin := filepath.Join(tb.TempDir(), "rzpgate")
	start := time.Now()
	if out, err := run(tb, 5*time.Minute, goBin, "build", "-C", root, "-o", bin, "./cmd/proxy"); err != nil {
		tb.Fatalf("building the gateway: %v\n%s", err, out)
	}
	tb.Logf("built the gateway in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// gateway is a running gateway process.
type gateway struct {
	// url and admin are the base URLs of its listener and admin listener.
	url, admin string

	mu   sync.Mutex // guards logs
	logs []string   // its stdout and stderr lines, in order
}

// startGateway starts bin with args and env (added to the environment,
// less any RZPGATE_ variable of the test's own) on loopback ports it picks
// itself,
// waits for its "rzpgate started" log line, and stops it when the test
// ends, printing its log if the test failed.
func startGateway(tb testing.TB, bin string, args []string, env map[string]string) *gateway {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RZPGATE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "RZPGATE_LISTEN=127.0.0.1:0", "RZPGATE_ADMIN_LISTEN=127.0.0.1:0", "RZPGATE_SHUTDOWN_DELAY=0s")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		tb.Fatalf("starting the gateway: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		pw.Close()
		close(exited)
	}()

	g := &gateway{}
	started := make(chan [2]string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			g.mu.Lock()
			g.logs = append(g.logs, line)
			g.mu.Unlock()
			var l struct {
				Msg         string `json:"msg"`
				Listen      string `json:"listen"`
				AdminListen string `json:"admin_listen"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "rzpgate started" {
				started <- [2]string{l.Listen, l.AdminListen}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if tb.Failed() {
			tb.Logf("gateway log (the last %d lines):\n%s", logTail, g.log())
		}
	})

	select {
	case addrs := <-started:
		g.url, g.admin = "http://"+addrs[0], "http://"+addrs[1]
	case <-exited:
		tb.Fatalf("the gateway exited before serving:\n%s", g.log())
	case <-time.After(20 * time.Second):
		tb.Fatalf("the gateway did not start in 20s:\n%s", g.log())
	}
	return g
}

// logTail is how many of the gateway's last lines a failure shows.
const logTail = 40

// log returns the last logTail lines of the gateway's output so far.
func (g *gateway) log() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return strings.Join(g.logs[max(0, len(g.logs)-logTail):], "\n")
}
