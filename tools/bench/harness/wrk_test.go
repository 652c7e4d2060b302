package harness

import (
	"strings"
	"testing"
	"time"
)

// Outputs of wrk 4.1.0 with --latency (Debian's package).
const (
	wrkClean = `Running 3s test @ http://127.0.0.1:40123/v1/payments/pay_DG4ZdRK8ZnXC3k?expand[]=upi
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.87ms    7.76ms  95.65ms   96.99%
    Req/Sec    40.41k     7.01k   43.93k    80.00%
  Latency Distribution
     50%  497.00us
     75%  834.00us
     90%    2.75ms
     99%   45.34ms
  121035 requests in 3.00s, 103.40MB read
Requests/sec:  40293.65
Transfer/sec:     34.42MB
`
	wrkErrors = `Running 1s test @ http://127.0.0.1:40123/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.87ms    7.76ms    1.95s   96.99%
    Req/Sec    14.41k     7.01k   23.93k    80.00%
  Latency Distribution
     50%  297.00us
     75%  834.00us
     90%    2.75ms
     99%    1.20s
  14335 requests in 1.00s, 4.40MB read
  Socket errors: connect 1, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 14335
Requests/sec:  14293.65
Transfer/sec:      4.39MB
`
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		desc string
		out  string
		want Result
	}{
		{"clean", wrkClean, Result{Requests: 121035, Elapsed: 3 * time.Second, RPS: 40293.65,
			P50: 497 * time.Microsecond, P99: 45340 * time.Microsecond}},
		{"errors and non-2xx", wrkErrors, Result{Requests: 14335, Elapsed: time.Second, RPS: 14293.65,
			P50: 297 * time.Microsecond, P99: 1200 * time.Millisecond, Non2xx: 14335, Errors: 16}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := parseWrk(tt.out)
			if err != nil {
				t.Fatalf("parseWrk: %v", err)
			}
			if got != tt.want {
				t.Errorf("parseWrk = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseWrkRejects(t *testing.T) {
	tests := []struct{ desc, out string }{
		{"empty", ""},
		{"no latency distribution", strings.Replace(wrkClean, "     50%  497.00us\n", "", 1)},
		{"no request count", strings.Replace(wrkClean, "  121035 requests in 3.00s, 103.40MB read\n", "", 1)},
		{"bad percentile", strings.Replace(wrkClean, "497.00us", "497.00ps", 1)},
		{"bad socket errors", strings.Replace(wrkErrors, "read 3,", "read x,", 1)},
		{"usage text", "Usage: wrk <options> <url>\n  Options:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got, err := parseWrk(tt.out); err == nil {
				t.Errorf("parseWrk = %+v, want an error", got)
			}
		})
	}
}

func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration // negative: an error
	}{
		{"500.00us", 500 * time.Microsecond},
		{"1.43ms", 1430 * time.Microsecond},
		{"3.00s", 3 * time.Second},
		{"2.00m", 2 * time.Minute},
		{"1.00h", time.Hour},
		{"0.00us", 0},
		{"12", -1},
		{"ms", -1},
		{"-1.00ms", -1},
		{"1.5ns", -1},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseWrkDuration(tt.in)
			switch {
			case tt.want < 0 && err == nil:
				t.Errorf("parseWrkDuration(%q) = %v, want an error", tt.in, got)
			case tt.want >= 0 && (err != nil || got != tt.want):
				t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzParseWrk(f *testing.F) {
	f.Add(wrkClean)
	f.Add(wrkErrors)
	f.Fuzz(func(t *testing.T, out string) {
		res, err := parseWrk(out)
		if err == nil && (res.Requests < 0 || res.P50 < 0 || res.P99 < 0 || res.Errors < 0 || res.Non2xx < 0) {
			t.Errorf("parseWrk(%q) = %+v: negative figures", out, res)
		}
	})
}

func TestLuaScript(t *testing.T) {
	w := Workload{Path: paymentPath, KeyParam: "k", Keys: 1000, Creds: []string{"a:b", `c"d:e`},
		PatchPercent: 5, PatchPath: qrPatchPath, PatchBody: qrPatchBody}
	var b strings.Builder
	if err := luaScript.Execute(&b, luaParams(w)); err != nil {
		t.Fatal(err)
	}
	script := b.String()
	for _, want := range []string{
		`local auths = { "Basic YTpi", "Basic YyJkOmU=", }`,
		`local prefix = path .. "&" .. "k" .. "="`,
		`local keys = 1000`,
		`local patchBody = "{\"notes\":{\"purpose\":\"rzpbench\"}}"`,
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %s:\n%s", want, script)
		}
	}
}
