package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

// recorder is a server that counts what it was sent.
type recorder struct {
	mu      sync.Mutex // guards the maps
	keys    map[string]int
	auths   map[string]int
	methods map[string]int
	status  int // of every answer; zero means 200
}

func newRecorder(t *testing.T, status int) (*recorder, *httptest.Server) {
	rec := &recorder{keys: map[string]int{}, auths: map[string]int{}, methods: map[string]int{}, status: status}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.keys[r.URL.Query().Get("k")]++
		rec.auths[r.Header.Get("Authorization")]++
		rec.methods[r.Method]++
		rec.mu.Unlock()
		if rec.status != 0 {
			w.WriteHeader(rec.status)
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(ts.Close)
	return rec, ts
}

// loaders returns the Go generator, and wrk when installed (required with
// CI=true).
func loaders(t *testing.T) []loader {
	ls := []loader{goLoader{}}
	if bin, err := exec.LookPath("wrk"); err == nil {
		ls = append(ls, &wrkLoader{bin: bin, dir: t.TempDir()})
	} else if os.Getenv("CI") == "true" {
		t.Fatal("wrk is not installed (make wrk)")
	} else {
		t.Log("wrk not installed: testing the Go generator only")
	}
	return ls
}

// TestLoadersSendTheWorkload runs each generator against a recording
// server and checks that it sent the workload: sequential keys never
// repeat, random keys stay in range, credentials rotate, PATCHes mix in.
func TestLoadersSendTheWorkload(t *testing.T) {
	creds := []string{"k1:s1", "k2:s2", "k3:s3"}
	tests := []struct {
		desc  string
		w     Workload
		check func(t *testing.T, rec *recorder, res Result)
	}{
		{"sequential keys", Workload{Path: "/v1/x?expand[]=upi", KeyParam: "k", Sequential: true, First: 1000, Conns: 4},
			func(t *testing.T, rec *recorder, res Result) {
				for k, n := range rec.keys {
					if n != 1 {
						t.Errorf("key %q sent %d times, want once", k, n)
					}
				}
				if _, ok := rec.keys["999"]; ok {
					t.Error("key 999 sent, want keys from 1000")
				}
			}},
		{"random keys and credentials", Workload{Path: "/v1/x", KeyParam: "k", Keys: 10, Creds: creds, Conns: 4},
			func(t *testing.T, rec *recorder, res Result) {
				for k := range rec.keys {
					if len(k) != 1 || k < "0" || k > "9" {
						t.Errorf("key %q sent, want 0 to 9", k)
					}
				}
				if len(rec.auths) != len(creds) {
					t.Errorf("sent %d credentials, want %d", len(rec.auths), len(creds))
				}
			}},
		{"patch mix", Workload{Path: "/v1/x", Creds: []string{"a:b", "a:b"}, PatchPercent: 20, PatchPath: "/v1/y", PatchBody: "{}", Conns: 4},
			func(t *testing.T, rec *recorder, res Result) {
				share := float64(rec.methods["PATCH"]) / float64(res.Requests)
				if share < 0.1 || share > 0.3 {
					t.Errorf("PATCH share = %.2f (%v), want about 0.2", share, rec.methods)
				}
			}},
	}
	for _, l := range loaders(t) {
		for _, tt := range tests {
			t.Run(l.Name()+"/"+tt.desc, func(t *testing.T) {
				rec, ts := newRecorder(t, 0)
				res, err := l.Run(context.Background(), ts.URL, tt.w, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if res.Requests == 0 || res.Non2xx != 0 || res.Errors != 0 || res.P50 <= 0 || res.P99 < res.P50 || res.RPS <= 0 {
					t.Errorf("result = %+v, want requests, no errors, latencies", res)
				}
				rec.mu.Lock()
				defer rec.mu.Unlock()
				var sent int64
				for _, n := range rec.methods {
					sent += int64(n)
				}
				// wrk may send a few requests it does not wait for at the end.
				if sent < res.Requests || sent > res.Requests+int64(tt.w.conns()) {
					t.Errorf("server saw %d requests, generator counted %d", sent, res.Requests)
				}
				tt.check(t, rec, res)
			})
		}
	}
}

func TestLoadersCountErrors(t *testing.T) {
	for _, l := range loaders(t) {
		t.Run(l.Name(), func(t *testing.T) {
			_, ts := newRecorder(t, http.StatusUnauthorized)
			res, err := l.Run(context.Background(), ts.URL, Workload{Path: "/", Conns: 2}, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests == 0 || res.Non2xx != res.Requests {
				t.Errorf("result = %+v, want every response counted as non-2xx", res)
			}
		})
	}
}

func TestGoLoaderStopsAtCount(t *testing.T) {
	rec, ts := newRecorder(t, 0)
	w := Workload{Path: "/", KeyParam: "k", Sequential: true, Conns: 8, MaxRequests: 500}
	res, err := goLoader{}.Run(context.Background(), ts.URL, w, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 500 || len(rec.keys) != 500 {
		t.Errorf("sent %d requests of %d keys, want 500 of 500", res.Requests, len(rec.keys))
	}
	for i := range 500 {
		if rec.keys[strconv.Itoa(i)] != 1 {
			t.Fatalf("key %d sent %d times, want once", i, rec.keys[strconv.Itoa(i)])
		}
	}
}

func TestGoLoaderSurvivesClosedConnections(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write([]byte("{}"))
	}))
	defer ts.Close()
	res, err := goLoader{}.Run(context.Background(), ts.URL, Workload{Path: "/", Conns: 2, MaxRequests: 50}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 50 || res.Errors != 0 {
		t.Errorf("result = %+v, want 50 requests and no errors over fresh connections", res)
	}
}
