//go:build pprof

package main

import (
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

// A binary built with -tags pprof serves Go's profiler on
// RZPGATE_PPROF_LISTEN (a loopback address, for profiling under load, e.g.
// with make bench); release builds carry no profiler.
func init() {
	if addr := os.Getenv("RZPGATE_PPROF_LISTEN"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
