package proxy_test

import (
	"fmt"
	"io"
	"testing"
)

func fmtSscanf(cacheStatus string, ttl *int) (int, error) {
	return fmt.Sscanf(cacheStatus, "rzpgate; hit; ttl=%d", ttl)
}

func ioPipe() (*io.PipeReader, *io.PipeWriter) { return io.Pipe() }

// counter returns the sum of the counter series name whose labels include
// the given name, value pairs, or 0 if there is none.
func counter(t *testing.T, e *env, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
