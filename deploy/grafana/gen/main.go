// Command gen writes rzpgate's Grafana dashboard as JSON: run by go
// generate in deploy/grafana, which commits the result as rzpgate.json.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rzpgate/rzpgate/deploy/grafana"
)

func main() {
	out := flag.String("o", "", "file to write (default: standard output)")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	b, err := grafana.JSON()
	if err != nil {
		return err
	}
	if out == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(out, b, 0o644)
}
