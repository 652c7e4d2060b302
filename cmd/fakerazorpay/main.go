// Command fakerazorpay serves the fake Razorpay API for manual testing and
// load tests of the gateway.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rzpgate/rzpgate/internal/fakerazorpay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		slog.Error("fakerazorpay failed", "err", err)
		os.Exit(1)
	}
}

// errUsage marks a command-line error; the flag package has already printed
// the details.
var errUsage = errors.New("usage error")

// seededKeys are the key ids whose accounts fakerazorpay.New seeds.
var seededKeys = []string{"rzp_test_A", "rzp_test_B"}

// run serves the fake until ctx is done, then shuts down gracefully.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakerazorpay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:9100", "address to listen on")
	keys := fs.String("keys", "rzp_test_A:secretA,rzp_test_B:secretB",
		"comma-separated key_id:secret accounts; rzp_test_A and rzp_test_B own the seeded entities, others start empty")
	latency := fs.Duration("latency", 0, "delay before every response")
	commitDelay := fs.Duration("commit-delay", 0, "delay before every write is applied, whether or not its client waits")
	anyKey := fs.String("any-key", "",
		"answer any Basic credential whose key id has no account as this account (e.g. rzp_test_A), for load tests with many credentials")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	accounts, err := parseKeys(*keys)
	if err != nil {
		fmt.Fprintf(stderr, "invalid -keys: %v\n", err)
		return errUsage
	}

	fake := fakerazorpay.New()
	for _, id := range seededKeys {
		if _, ok := accounts[id]; !ok {
			fake.RemoveAccount(id)
		}
	}
	for id, secret := range accounts {
		fake.AddAccount(id, secret)
	}
	if *anyKey != "" {
		if _, ok := accounts[*anyKey]; !ok {
			fmt.Fprintf(stderr, "invalid -any-key: %q is not one of -keys\n", *anyKey)
			return errUsage
		}
	}
	fake.SetLatency(*latency)
	fake.SetCommitDelay(*commitDelay)
	fake.SetAnyKey(*anyKey)
	// Nothing reads the requests a command's fake would keep, so it only
	// counts them: kept, they would grow its memory without bound under load.
	fake.SetKeepRequests(false)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	slog.New(slog.NewTextHandler(stderr, nil)).Info("fakerazorpay listening",
		"addr", ln.Addr().String(), "accounts", len(accounts), "latency", *latency, "commit_delay", *commitDelay,
		"any_key", *anyKey)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// parseKeys parses the -keys flag: comma-separated key_id:secret pairs,
// each with a non-empty key id and secret, no key id twice.
func parseKeys(s string) (map[string]string, error) {
	accounts := make(map[string]string)
	for pair := range strings.SplitSeq(s, ",") {
		id, secret, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok || id == "" || secret == "" {
			return nil, fmt.Errorf("%q is not key_id:secret", pair)
		}
		if _, dup := accounts[id]; dup {
			return nil, fmt.Errorf("key id %q given twice", id)
		}
		accounts[id] = secret
	}
	return accounts, nil
}
