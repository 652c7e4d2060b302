// Command rzpbench is rzpgate's performance harness (issue 11): it starts
// the fake Razorpay, gateways, Redis, nginx and a bare net/http server on
// loopback, drives them with wrk (or a Go load generator), and prints one
// table of every scenario's figures, ratios and targets. `make bench` runs
// it; `rzpbench bare` is the bare server it starts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rzpgate/rzpgate/tools/bench/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "rzpbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "bare" {
		return bare(ctx, args[1:], stderr)
	}
	fs := flag.NewFlagSet("rzpbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "tiny sizes and durations, to check that every scenario runs (its figures mean nothing)")
	def := harness.DefaultConfig()
	rzpgate := fs.String("rzpgate", "bin/rzpgate", "the gateway binary under test")
	fake := fs.String("fake", "bin/fakerazorpay", "the fake Razorpay binary")
	out := fs.String("out", "bin/bench", "folder for results.json and results.png; empty writes none")
	rounds := fs.Int("rounds", 0, fmt.Sprintf("interleaved rounds per comparison (default %d)", def.Rounds))
	duration := fs.Duration("duration", 0, fmt.Sprintf("each target's run in a round (default %s; wrk takes whole seconds)", def.Duration))
	entries := fs.Int("entries", 0, fmt.Sprintf("entries of the fill and hit-1m scenarios (default %d)", def.Entries))
	rssEntries := fs.Int("rss-entries", 0, fmt.Sprintf("entries of the rss-100k scenario (default %d)", def.RSSEntries))
	idle := fs.Duration("idle", 0, fmt.Sprintf("how long the idle-1m scenario measures (at least; default %s, stretched until the window holds the collection the runtime forces after 2 minutes without one)", def.Idle))
	conns := fs.Int("conns", 0, fmt.Sprintf("connections of the hit scenarios (default %d)", def.Conns))
	only := fs.String("only", "", "comma-separated scenarios to run (default all): hit-memory, hit-long-query, hit-redis, miss, many-creds, patch-mix, rate-limited, cold-key, rss-100k, fill, hit-1m, idle-1m")
	loader := fs.String("loader", "", "wrk or go (default wrk when installed)")
	noNginx := fs.Bool("no-nginx", false, "do not compare with nginx even when installed")
	keep := fs.Bool("keep", false, "keep the temp folder with every process's log (the gateways' JSON logs included: large at info level)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := def
	if *quick {
		cfg = harness.QuickConfig()
	}
	for _, o := range []struct {
		flag int
		into *int
	}{{*rounds, &cfg.Rounds}, {*entries, &cfg.Entries}, {*rssEntries, &cfg.RSSEntries}, {*conns, &cfg.Conns}} {
		if o.flag > 0 {
			*o.into = o.flag
		}
	}
	if *duration > 0 {
		cfg.Duration = *duration
	}
	if *idle > 0 {
		cfg.Idle = *idle
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	cfg.Rzpgate, cfg.Fake, cfg.Out, cfg.Loader, cfg.NoNginx, cfg.Keep = *rzpgate, *fake, *out, *loader, *noNginx, *keep
	cfg.CI = os.Getenv("CI") == "true"
	cfg.Log = stderr
	_, err := harness.Run(ctx, cfg, stdout)
	return err
}

// bare is the bare net/http server (or reverse proxy) the harness starts as
// a subprocess.
func bare(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("rzpbench bare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	response := fs.String("response", "", "the JSON file of the response to serve")
	proxy := fs.String("proxy", "", "serve a bare reverse proxy to this upstream URL instead of a response")
	timeouts := fs.Bool("timeouts", false, "set the gateway's default connection timeouts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *proxy != "" {
		return harness.ServeBareProxy(ctx, *listen, *proxy)
	}
	return harness.ServeBare(ctx, *listen, *response, *timeouts)
}
