package harness

import (
	"strings"
	"testing"
)

const exposition = `# HELP rzpgate_requests_total Requests served.
# TYPE rzpgate_requests_total counter
rzpgate_requests_total{cache="hit",method="GET",route="payment",status_class="2xx"} 120
rzpgate_requests_total{cache="miss",method="GET",route="payment",status_class="2xx"} 3
rzpgate_requests_total{cache="hit",method="GET",route="qr_codes",status_class="2xx"} 7
rzpgate_upstream_requests_total{group="payments",status_class="2xx"} 3
rzpgate_upstream_requests_total{group="payments",status_class="error"} 1
rzpgate_cache_fills_total{result="stored",route="payment"} 3
rzpgate_cache_fills_total{result="fenced",route="payment"} 2
process_cpu_seconds_total 1.5
go_gc_duration_seconds{quantile="0.5"} 1e-05
`

func TestReadCounters(t *testing.T) {
	ss, err := parseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		desc   string
		name   string
		labels []string
		want   float64
	}{
		{"all requests", "rzpgate_requests_total", nil, 130},
		{"hits", "rzpgate_requests_total", []string{`cache="hit"`}, 127},
		{"payment hits", "rzpgate_requests_total", []string{`cache="hit"`, `route="payment"`}, 120},
		{"upstream, errors included", "rzpgate_upstream_requests_total", nil, 4},
		{"stored fills", "rzpgate_cache_fills_total", []string{`result="stored"`}, 3},
		{"no labels", "process_cpu_seconds_total", nil, 1.5},
		{"exponent", "go_gc_duration_seconds", nil, 1e-05},
		{"absent", "rzpgate_nothing_total", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := sum(ss, tt.name, tt.labels...); got != tt.want {
				t.Errorf("sum(%s, %v) = %v, want %v", tt.name, tt.labels, got, tt.want)
			}
		})
	}
}
