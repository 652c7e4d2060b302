package prometheus

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// tool returns the path of a binary of Debian's prometheus package
// (promtool, prometheus): on PATH, else in /usr/bin. Without it the test
// skips with a loud message, or fails when CI is "true", so that a CI
// machine missing the package cannot pass by skipping.
func tool(tb testing.TB, name string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join("/usr/bin", name); isExecutable(p) {
		return p
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true but %s is not on PATH nor in /usr/bin: install Debian's prometheus package (make prometheus)", name)
	}
	tb.Skipf("PROMETHEUS TESTS SKIPPED: %s is not on PATH; install it with `make prometheus` (Debian's prometheus package)", name)
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// run runs a command with a bound on its time and returns its combined
// output.
func run(tb testing.TB, timeout time.Duration, name string, args ...string) (string, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return string(out), errors.New("timed out after " + timeout.String())
	}
	return string(out), err
}
