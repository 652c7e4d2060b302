package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestQuickRun builds the gateway, the fake and the harness from this tree
// and runs the harness in -quick mode, as make bench would but tiny: every
// scenario must have sent requests without errors, the cold key must have
// reached the upstream exactly once, and the JSON and PNG must be written.
// Its figures mean nothing and are not checked.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every process under test")
	}
	// The two builds run at once; the root one builds both of its binaries
	// in one go, sharing their packages' work.
	bin := t.TempDir()
	builds := []struct {
		dir  string
		args []string
	}{
		{"../../..", []string{"build", "-o", bin + "/", "./cmd/proxy", "./cmd/fakerazorpay"}},
		{"..", []string{"build", "-o", filepath.Join(bin, "rzpbench"), "./cmd/rzpbench"}},
	}
	errs := make([]error, len(builds))
	var wg sync.WaitGroup
	for i, b := range builds {
		wg.Go(func() {
			cmd := exec.Command("go", b.args...)
			cmd.Dir = b.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go %s: %v\n%s", strings.Join(b.args, " "), err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "results")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "rzpbench"), "-quick",
		"-rzpgate", filepath.Join(bin, "proxy"), "-fake", filepath.Join(bin, "fakerazorpay"), "-out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("rzpbench -quick: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	t.Logf("rzpbench -quick took %v:\n%s", time.Since(began).Round(time.Second), stdout.Bytes())

	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("decoding results.json: %v", err)
	}
	png, err := os.ReadFile(filepath.Join(out, "results.png"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 10_000 {
		t.Errorf("results.png is %d bytes and not a PNG chart", len(png))
	}
	if !rep.Quick {
		t.Error("report not marked quick")
	}

	var names []string
	for _, sc := range rep.Scenarios {
		names = append(names, sc.Name)
		if !sc.Valid || len(sc.Problems) > 0 {
			t.Errorf("%s: invalid: %q", sc.Name, sc.Problems)
		}
		if len(sc.Targets) == 0 && !(sc.Name == "idle-1m" || sc.Name == "hit-redis" && !rep.Redis) {
			t.Errorf("%s: no target measured", sc.Name)
		}
		for _, tr := range sc.Targets {
			if tr.Median.Requests == 0 {
				t.Errorf("%s, %s: no request", sc.Name, tr.Name)
			}
			if tr.Median.Non2xx+tr.Median.Errors > 0 {
				t.Errorf("%s, %s: %d non-2xx and %d errors", sc.Name, tr.Name, tr.Median.Non2xx, tr.Median.Errors)
			}
		}
		for _, c := range sc.Checks {
			if !slices.Contains([]string{statusPass, statusFail, statusInfo, statusSkipped}, c.Status) {
				t.Errorf("%s, %s: status %q", sc.Name, c.Name, c.Status)
			}
			if c.Status == statusSkipped && rep.Nginx {
				t.Errorf("%s, %s: skipped with nginx installed", sc.Name, c.Name)
			}
		}
		if sc.Name == "cold-key" {
			if got := sc.Facts["upstream_requests"]; got != 1 {
				t.Errorf("cold-key: %v upstream requests, want exactly 1", got)
			}
		}
		if sc.Name == "hit-memory" && !slices.ContainsFunc(sc.Targets, func(tr *TargetResult) bool { return tr.Name == nameBareTimeouts }) {
			t.Error("hit-memory: the bare server with the gateway's timeouts not measured")
		}
		if sc.Name == "miss" && !slices.ContainsFunc(sc.Targets, func(tr *TargetResult) bool { return tr.Name == nameBareProxy }) {
			t.Error("miss: the bare reverse proxy not measured")
		}
		if sc.Name == "hit-memory" && rep.Nginx && !slices.ContainsFunc(sc.Targets, func(tr *TargetResult) bool { return tr.Name == nameNginx }) {
			t.Error("hit-memory: nginx installed but not measured")
		}
	}
	if !slices.Equal(names, scenarioNames) {
		t.Errorf("scenarios = %v, want %v", names, scenarioNames)
	}
}
