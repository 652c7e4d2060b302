package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"
)

// ServeBare serves the response saved in file (see captured) to every
// request on addr until ctx is done: a bare net/http server writing the
// same bytes and headers as a gateway's hit, the ceiling for any Go server
// doing the gateway's job on this machine. Like the gateway, it writes
// header values built once, and the body from memory.
//
// With timeouts, it also sets the gateway's default connection timeouts
// (read 60s, write 150s, idle 120s), which cost net/http a deadline or two
// per request: the bare server with them shows what of a hit's cost is
// the gateway's code and what is the timeouts every production server sets.
func ServeBare(ctx context.Context, addr, file string, timeouts bool) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("reading the response to serve: %w", err)
	}
	var c captured
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("decoding the response to serve: %w", err)
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range c.Header {
			h[k] = v
		}
		w.WriteHeader(c.Status)
		w.Write(c.Body)
	})}
	if timeouts {
		srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = 60*time.Second, 150*time.Second, 120*time.Second
	}
	return serve(ctx, addr, srv)
}

// ServeBareProxy serves a bare reverse proxy to upstream on addr until ctx
// is done: net/http's httputil.ReverseProxy and nothing else, no cache and
// no checks, the floor under what any net/http gateway adds to a miss. Its
// transport asks for no compression, as the gateway's fills do.
func ServeBareProxy(ctx context.Context, addr, upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	return serve(ctx, addr, &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: rp})
}

// serve runs srv on addr until ctx is done.
func serve(ctx context.Context, addr string, srv *http.Server) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
