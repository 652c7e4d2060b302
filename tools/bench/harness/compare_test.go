package harness

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// TestCompareFlagsErrors runs a comparison whose second target answers
// 500: the scenario must be invalid and its checks say so, while each
// target still has one measure per round.
func TestCompareFlagsErrors(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) }))
	defer ok.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer failing.Close()
	self := &Process{Name: "test", Pid: os.Getpid()} // the servers run in this process
	l := &lab{
		cfg:  Config{Rounds: 2, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond},
		load: goLoader{}, fill: goLoader{},
	}
	sc := &Scenario{Name: "test"}
	w := Workload{Path: "/", Conns: 2}
	err := l.compare(context.Background(), sc, []target{
		{name: "ok", srv: &server{Process: self, URL: ok.URL}, work: w},
		{name: "failing", srv: &server{Process: self, URL: failing.URL}, work: w},
	}, []check{
		{name: "ok / failing", a: "ok", b: "failing", metric: rps, unit: "x", op: ">=", goal: 0.5},
		{name: "ok / nginx", a: "ok", b: nameNginx, metric: rps, unit: "x", op: ">=", goal: 0.5},
	})
	if err != nil {
		t.Fatal(err)
	}
	sc.settle()
	if sc.Valid || len(sc.Problems) != 2 {
		t.Errorf("valid = %v, problems = %q; want invalid with one problem per round of the failing target", sc.Valid, sc.Problems)
	}
	for _, tr := range sc.Targets {
		if len(tr.Rounds) != 2 || tr.Median.Requests == 0 {
			t.Errorf("%s: %d rounds, %d requests; want 2 rounds with requests", tr.Name, len(tr.Rounds), tr.Median.Requests)
		}
	}
	if got := sc.Checks[0].Status; got != statusInvalid {
		t.Errorf("check of an invalid scenario: status %q, want %q", got, statusInvalid)
	}
	if got := sc.Checks[1].Status; got != statusSkipped {
		t.Errorf("check naming a target not run: status %q, want %q", got, statusSkipped)
	}
}
