package prometheus

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// server is a running Prometheus, Debian's, scraping one target.
type server struct {
	url string
	api v1.API
}

// scrapeConfig is the Prometheus configuration of the tests: the gateway's
// admin listener scraped and the rules evaluated every second.
const scrapeConfig = `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: rzpgate
    static_configs:
      - targets: [%q]
`

// startPrometheus starts prometheus on a free loopback port with private
// storage, scraping target (host:port) and evaluating the rules in
// rulesPath, waits until it is ready and stops it when the test ends.
func startPrometheus(tb testing.TB, bin, target, rulesPath string) *server {
	tb.Helper()
	dir := tb.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, scrapeConfig, rulesPath, target), 0o644); err != nil {
		tb.Fatal(err)
	}
	var lastErr string
	for range 3 { // Another process may take the free port first.
		port, err := freePort()
		if err != nil {
			tb.Fatalf("finding a free port: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		s, log, err := tryPrometheus(tb, bin, cfg, filepath.Join(dir, "data-"+strconv.Itoa(port)), addr)
		if err == nil {
			return s
		}
		lastErr = fmt.Sprintf("%v\n%s", err, log)
	}
	tb.Fatalf("starting prometheus: %s", lastErr)
	return nil
}

// tryPrometheus starts prometheus on addr and waits for it to be ready.
func tryPrometheus(tb testing.TB, bin, cfg, storage, addr string) (*server, string, error) {
	cmd := exec.Command(bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+storage,
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}

	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return nil, out.String(), fmt.Errorf("prometheus exited before it was ready")
		default:
		}
		if resp, err := http.Get(url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, out.String(), fmt.Errorf("prometheus was not ready in 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Cleanup(func() {
		stop()
		if tb.Failed() {
			tb.Logf("prometheus log:\n%s", out.String())
		}
	})
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		stop()
		return nil, "", err
	}
	return &server{url: url, api: v1.NewAPI(c)}, "", nil
}

// query evaluates expr now and returns its samples: a vector's, or one
// for a scalar. A range vector is an error: no shipped expression is one.
func (s *server) query(ctx context.Context, expr string) (model.Vector, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, _, _, err := s.api.Query(ctx, expr, time.Now())
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case model.Vector:
		return v, nil
	case *model.Scalar:
		return model.Vector{{Value: v.Value, Timestamp: v.Timestamp}}, nil
	}
	return nil, fmt.Errorf("result is a %s, want a vector or scalar", v.Type())
}

// waitFor evaluates expr until it returns at least one sample or timeout
// passes, and returns the last result.
func (s *server) waitFor(ctx context.Context, expr string, timeout time.Duration) (model.Vector, error) {
	deadline := time.Now().Add(timeout)
	for {
		v, err := s.query(ctx, expr)
		if err != nil || len(v) > 0 || time.Now().After(deadline) {
			return v, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer is a bytes.Buffer safe for a process's writes and a test's
// reads at once.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(b.b.String())
}
