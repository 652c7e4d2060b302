package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
)

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, check, err := loadConfig(nil, env(), io.Discard)
	if err != nil || check {
		t.Fatalf("loadConfig() = %v, check %t", err, check)
	}
	if cfg.Listen != ":8080" || cfg.AdminListen != ":9090" || cfg.Upstream.URL != "https://api.razorpay.com" || storeName(cfg) != "memory" {
		t.Errorf("defaults: listen %q admin %q upstream %q cache %s; want :8080 :9090 https://api.razorpay.com memory",
			cfg.Listen, cfg.AdminListen, cfg.Upstream.URL, storeName(cfg))
	}
}

func TestLoadConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "proxy.yaml")
	os.WriteFile(file, []byte("listen: 127.0.0.1:1001\nadmin_listen: 127.0.0.1:1002\nlog:\n  level: debug\n"), 0o600)
	cfg, _, err := loadConfig([]string{"-config", file, "-admin-listen", "127.0.0.1:3002"},
		env("RZPGATE_LISTEN", "127.0.0.1:2001", "RZPGATE_ADMIN_LISTEN", "127.0.0.1:2002"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ desc, got, want string }{
		{"env over file", cfg.Listen, "127.0.0.1:2001"},
		{"flag over env", cfg.AdminListen, "127.0.0.1:3002"},
		{"file over default", cfg.Log.Level, "debug"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.desc, tt.got, tt.want)
		}
	}
}

func TestBadConfigNamesTheField(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, []byte("upstream:\n  urll: http://x\n"), 0o600)
	tests := []struct {
		desc   string
		args   []string
		lookup func(string) (string, bool)
		want   string
	}{
		{"bad upstream from env", nil, env("RZPGATE_UPSTREAM_URL", "ftp://example.com"), "upstream.url"},
		{"bad ttl from env", nil, env("RZPGATE_TTL_PAYMENTS", "soon"), "RZPGATE_TTL_PAYMENTS"},
		{"unknown field in file", []string{"-config", unknown}, env(), "urll"},
		{"missing file", []string{"-config", filepath.Join(dir, "nope.yaml")}, env(), "nope.yaml"},
		{"bad flag value", []string{"-log-level", "loud"}, env(), "log.level"},
		{"secret too short with redis", nil, env("RZPGATE_REDIS_URL", "redis://127.0.0.1:6379", "RZPGATE_CACHE_KEY_SECRET", "short-secret"), "cache.key_secret"},
		// -check-config must refuse what startup would (issue #6, item 13).
		{"redis url startup cannot parse", nil, env("RZPGATE_REDIS_URL", "redis://:short-secret@127.0.0.1:6390?dial_timeout=abc",
			"RZPGATE_CACHE_KEY_SECRET", "0123456789abcdef0123456789abcdef"), "redis.url"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, _, err := loadConfig(tt.args, tt.lookup, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("loadConfig error = %v; want one naming %s", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "short-secret") {
				t.Errorf("error echoes the secret: %v", err)
			}
		})
	}
}

func TestCheckConfig(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"-check-config", "-config", "../../configs/proxy.yaml"}, env(), &out, io.Discard)
	if err != nil || strings.TrimSpace(out.String()) != "config ok" {
		t.Errorf("-check-config on configs/proxy.yaml: %v, output %q; want config ok", err, out.String())
	}
}

// TestBinaryServesAndDrains builds the gateway, runs it as a user would
// (configured by environment), sends a request through it and, while a slow
// one is in flight, SIGTERM: the slow request completes, readiness fails,
// and the process exits 0.
func TestBinaryServesAndDrains(t *testing.T) {
	bin := buildGateway(t)
	fake := fakerazorpay.New()
	up := httptest.NewServer(fake)
	defer up.Close()

	g := startGateway(t, bin, "RZPGATE_UPSTREAM_URL="+up.URL, "RZPGATE_SHUTDOWN_TIMEOUT=10s", "RZPGATE_SHUTDOWN_DELAY=300ms")
	cmd, listen, admin, lines := g.cmd, g.listen, g.admin, g.lines
	waitFor(t, "http://"+admin+"/readyz", 200)

	base := "http://" + listen
	for range 2 {
		if status, _ := get(t, base+"/v1/payment_links/plink_Fo48rl281ENAg9"); status != 200 {
			t.Fatalf("GET through the binary: status %d", status)
		}
	}
	if n := fake.Count("GET", "/v1/payment_links/plink_Fo48rl281ENAg9"); n != 1 {
		t.Errorf("upstream saw %d requests for two GETs; want 1 (the second a hit)", n)
	}
	if status, body := get(t, "http://"+admin+"/metrics"); status != 200 || !strings.Contains(body, `rzpgate_requests_total{cache="hit",method="GET",route="payment_link",status_class="2xx"} 1`) {
		t.Errorf("/metrics: status %d, hit series missing:\n%.2000s", status, body)
	}

	fake.SetLatency(time.Second)
	slow := make(chan int, 1)
	go func() {
		status, _ := get(t, base+"/v1/payments/pay_DG4ZdRK8ZnXC3k")
		slow <- status
	}()
	time.Sleep(300 * time.Millisecond) // the slow request is in flight
	cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(100 * time.Millisecond)
	if status, _ := get(t, "http://"+admin+"/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining: status %d; want 503", status)
	}
	if status := <-slow; status != 200 {
		t.Errorf("in-flight request during shutdown: status %d; want 200", status)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v; want status 0", err)
	}
	if _, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
		t.Errorf("gateway still accepts connections after exit")
	}

	// Every log line is JSON; request lines carry the fields operators
	// need and never a credential.
	var requests int
	for m := range lines {
		if m["msg"] != "request" {
			continue
		}
		requests++
		for _, k := range []string{"request_id", "route", "status", "cache", "duration_us"} {
			if _, ok := m[k]; !ok {
				t.Errorf("request log line lacks %s: %v", k, m)
			}
		}
		for _, v := range m {
			if s, ok := v.(string); ok && (strings.Contains(s, "secretA") || strings.Contains(s, "Basic ")) {
				t.Errorf("log line carries credentials: %v", m)
			}
		}
	}
	if requests != 3 {
		t.Errorf("request log lines = %d; want 3", requests)
	}
}

// TestShutdownLosesNoRequests sends SIGTERM while keep-alive clients send
// requests as fast as they can, each stopping once /readyz fails, as
// clients behind a load balancer would: none of their requests may fail
// (issue #6, item 11).
func TestShutdownLosesNoRequests(t *testing.T) {
	bin := buildGateway(t)
	up := httptest.NewServer(fakerazorpay.New())
	defer up.Close()
	g := startGateway(t, bin, "RZPGATE_UPSTREAM_URL="+up.URL, "RZPGATE_SHUTDOWN_DELAY=1s", "RZPGATE_LOG_LEVEL=warn")
	waitFor(t, "http://"+g.admin+"/readyz", 200)

	var unready atomic.Bool
	go func() { // the load balancer's probe
		for !unready.Load() {
			if resp, err := http.Get("http://" + g.admin + "/readyz"); err != nil || resp.StatusCode != 200 {
				unready.Store(true)
			} else {
				resp.Body.Close()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
			defer client.CloseIdleConnections()
			for i := 0; i < 100000 && !unready.Load(); i++ {
				// Half the requests are POSTs, which a client does not
				// retry on a connection the server closed.
				req, _ := http.NewRequest("GET", "http://"+g.listen+"/v1/payment_links/plink_Fo48rl281ENAg9", nil)
				if i%2 == 1 {
					req, _ = http.NewRequest("POST", "http://"+g.listen+"/v1/orders", strings.NewReader(`{"amount":100,"currency":"INR"}`))
					req.Header.Set("Content-Type", "application/json")
				}
				req.SetBasicAuth("rzp_test_A", "secretA")
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					t.Logf("request failed: %v", err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // every client is mid-loop
	g.cmd.Process.Signal(syscall.SIGTERM)
	wg.Wait()
	if err := g.cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v; want status 0", err)
	}
	if n := failed.Load(); n != 0 || sent.Load() == 0 {
		t.Errorf("%d of %d requests failed across the shutdown; want 0", n, sent.Load())
	}
}

// TestSlowClientsAreCut: a client that sends its body too slowly is cut at
// read_timeout rather than holding a connection for ever (issue #6, item 9).
func TestSlowClientsAreCut(t *testing.T) {
	bin := buildGateway(t)
	up := httptest.NewServer(fakerazorpay.New())
	defer up.Close()
	g := startGateway(t, bin, "RZPGATE_UPSTREAM_URL="+up.URL, "RZPGATE_READ_TIMEOUT=500ms", "RZPGATE_LOG_LEVEL=warn")
	waitFor(t, "http://"+g.admin+"/readyz", 200)
	conn, err := net.Dial("tcp", g.listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/orders HTTP/1.1\r\nHost: rzpgate\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	conn.SetReadDeadline(time.Now().Add(15 * time.Second)) // a guard, not an assertion
	reply, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the gateway still held a slow body's connection after 15s (read_timeout 500ms)")
	}
	if strings.Contains(string(reply), " 200 ") {
		t.Errorf("a request whose body never came was answered 200: %q", reply)
	}
}

// buildGateway builds the gateway binary once per test.
func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rzpgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// gateway is a running gateway process and its JSON log lines.
type gateway struct {
	cmd           *exec.Cmd
	listen, admin string
	lines         chan map[string]any
}

// startGateway runs bin on free loopback ports with the extra environment
// and kills it when the test ends.
func startGateway(t *testing.T, bin string, environ ...string) *gateway {
	t.Helper()
	g := &gateway{listen: freeAddr(t), admin: freeAddr(t), lines: make(chan map[string]any, 1000)}
	g.cmd = exec.Command(bin)
	g.cmd.Env = append(append(os.Environ(), "RZPGATE_LISTEN="+g.listen, "RZPGATE_ADMIN_LISTEN="+g.admin), environ...)
	stdout, _ := g.cmd.StdoutPipe()
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.cmd.Process.Kill(); g.cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				g.lines <- m
			}
		}
		close(g.lines)
	}()
	return g
}

// TestBinaryBadConfigExits runs the binary as a user would with a bad
// setting: it exits non-zero with one line naming the field.
func TestBinaryBadConfigExits(t *testing.T) {
	bin := buildGateway(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "RZPGATE_UPSTREAM_URL=ftp://example.com")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("exit: %v; want a non-zero status", err)
	}
	msg := strings.TrimSpace(string(out))
	if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, "upstream.url") {
		t.Errorf("output %q; want one line naming upstream.url", msg)
	}
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth("rzp_test_A", "secretA")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitFor(t *testing.T, url string, status int) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Logf("waiting for %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d within 10s", url, status)
}

// TestBuildInfo: the version stamped in with -ldflags reaches
// rzpgate_build_info, with the Go version.
func TestBuildInfo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "rzpgate")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=1.2.3-test", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	up := httptest.NewServer(fakerazorpay.New())
	defer up.Close()
	g := startGateway(t, bin, "RZPGATE_UPSTREAM_URL="+up.URL)
	waitFor(t, "http://"+g.admin+"/readyz", 200)
	_, body := get(t, "http://"+g.admin+"/metrics")
	line := ""
	for l := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(l, "rzpgate_build_info{") {
			line = l
		}
	}
	if !strings.Contains(line, `version="1.2.3-test"`) || !strings.Contains(line, `goversion="go1.`) || !strings.HasSuffix(line, " 1") {
		t.Errorf("rzpgate_build_info line %q; want version 1.2.3-test, the Go version, value 1", line)
	}
}

// TestBinaryMemoryLimit checks the soft memory limit the binary runs
// under, as its own metrics report it: derived from cache.max_bytes in
// memory mode (1.25 x 256 MiB + 64 MiB by default), and the operator's
// GOMEMLIMIT when set.
func TestBinaryMemoryLimit(t *testing.T) {
	bin := buildGateway(t)
	fake := fakerazorpay.New()
	up := httptest.NewServer(fake)
	defer up.Close()
	for _, tt := range []struct {
		desc    string
		environ []string
		want    string
	}{
		{"default cache", nil, "go_gc_gomemlimit_bytes 4.02653184e+08"},
		{"1 GiB cache", []string{"RZPGATE_CACHE_MAX_BYTES=1GiB"}, "go_gc_gomemlimit_bytes 1.409286144e+09"},
		{"GOMEMLIMIT set", []string{"GOMEMLIMIT=1GiB"}, "go_gc_gomemlimit_bytes 1.073741824e+09"},
		{"GOMEMLIMIT empty", []string{"GOMEMLIMIT="}, "go_gc_gomemlimit_bytes 4.02653184e+08"},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			g := startGateway(t, bin, append([]string{"RZPGATE_UPSTREAM_URL=" + up.URL}, tt.environ...)...)
			waitFor(t, "http://"+g.admin+"/readyz", 200)
			status, body := get(t, "http://"+g.admin+"/metrics")
			if status != 200 || !strings.Contains(body, tt.want+"\n") {
				i := strings.Index(body, "go_gc_gomemlimit_bytes ")
				t.Errorf("/metrics: status %d, memory limit %.40q; want %q", status, body[max(i, 0):], tt.want)
			}
		})
	}
}
