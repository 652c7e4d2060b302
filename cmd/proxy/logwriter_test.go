package main

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// lockedBuilder is a strings.Builder safe for the flusher's writes.
type lockedBuilder struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gateWriter is a stalled log reader: every Write blocks until release is
// closed, then is recorded, one chunk per call.
type gateWriter struct {
	entered     chan struct{} // closed when the first Write starts
	enteredOnce sync.Once
	release     chan struct{}

	mu     sync.Mutex // guards chunks
	chunks []string
}

func newGateWriter() *gateWriter {
	return &gateWriter{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gateWriter) Write(p []byte) (int, error) {
	g.enteredOnce.Do(func() { close(g.entered) })
	<-g.release
	g.mu.Lock()
	defer g.mu.Unlock()
	g.chunks = append(g.chunks, string(p))
	return len(p), nil
}

func (g *gateWriter) Chunks() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.chunks...)
}

// awaitClosed fails the test if ch is not closed within a generous bound; it
// guards against a hang and asserts nothing about speed.
func awaitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestLogWriterFlushes(t *testing.T) {
	var out lockedBuilder
	w := newLogWriter(&out)
	w.Write([]byte("one\n"))
	if got := out.String(); got != "" {
		t.Errorf("line written through at once (%q); want it buffered", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.String() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := out.String(); got != "one\n" {
		t.Errorf("after the flush interval: %q; want the line", got)
	}
	w.Write([]byte("two\n"))
	if err := w.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if got := out.String(); got != "one\ntwo\n" {
		t.Errorf("after Close: %q; want both lines", got)
	}
	if got := w.Dropped(); got != 0 {
		t.Errorf("Dropped() = %d; want 0", got)
	}
}

// TestLogWriterFlushesAfterIdle checks that a line written after the
// flusher has gone to sleep on an empty buffer still comes out on its own,
// without Close or a half-full buffer, and so does a burst after that.
func TestLogWriterFlushesAfterIdle(t *testing.T) {
	var out lockedBuilder
	w := &logWriter{Out: &out, FlushEvery: 5 * time.Millisecond}
	w.start()
	defer w.Close()
	want := ""
	for i, burst := range [][]string{{"a\n"}, {"b\n", "c\n"}, {"d\n"}} {
		for _, line := range burst {
			w.Write([]byte(line))
			want += line
		}
		deadline := time.Now().Add(30 * time.Second)
		for out.String() != want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if got := out.String(); got != want {
			t.Fatalf("burst %d: output %q; want %q", i, got, want)
		}
		time.Sleep(20 * time.Millisecond) // the flusher goes back to sleep
	}
}

// TestLogWriterFlushesWhenHalfFull checks the fill level wakes the flusher:
// with a flush interval of an hour, lines still come out before Close.
func TestLogWriterFlushesWhenHalfFull(t *testing.T) {
	var out lockedBuilder
	w := &logWriter{Out: &out, Size: 100, FlushEvery: time.Hour}
	w.start()
	defer w.Close()
	line := strings.Repeat("x", 9) + "\n"
	for range 5 {
		w.Write([]byte(line))
	}
	deadline := time.Now().Add(30 * time.Second)
	for out.String() == "" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got, want := out.String(), strings.Repeat(line, 5); got != want {
		t.Errorf("output %q; want %q", got, want)
	}
}

// TestLogWriterStalledOutput is the incident: the log reader stops reading,
// and requests must not wait on it.
func TestLogWriterStalledOutput(t *testing.T) {
	const goroutines, perGoroutine = 8, 1000
	out := newGateWriter()
	w := &logWriter{Out: out, Size: 4 << 10}
	w.start()
	counter := newLogDropCounter(prometheus.NewRegistry(), w)

	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				p := fmt.Appendf(nil, `{"g":%d,"i":%06d,"pad":"%s"}`+"\n", g, i, strings.Repeat("p", 40))
				if n, err := w.Write(p); n != len(p) || err != nil {
					t.Errorf("Write = %d, %v; want %d, nil", n, err, len(p))
					return
				}
			}
		})
	}
	returned := make(chan struct{})
	go func() { wg.Wait(); close(returned) }()
	awaitClosed(t, returned, "Writes to return while the output is stalled")

	dropped := w.Dropped()
	if dropped == 0 {
		t.Fatalf("Dropped() = 0 after %d lines into a %d-byte buffer with a stalled output; want some dropped", goroutines*perGoroutine, w.Size)
	}
	if got := testutil.ToFloat64(counter); got != float64(dropped) {
		t.Errorf("counter = %v; want Dropped() = %d", got, dropped)
	}

	close(out.release)
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := w.Dropped(); got != dropped {
		t.Errorf("Dropped() after Close = %d; want %d (nothing lost once the output reads again)", got, dropped)
	}

	next := make([]int, goroutines)
	lines := 0
	for _, c := range out.Chunks() {
		if !strings.HasSuffix(c, "\n") {
			t.Errorf("chunk written to the output ends mid-line: ...%q", c[max(0, len(c)-40):])
		}
		for l := range strings.Lines(c) {
			var g, i int
			var pad string
			if _, err := fmt.Sscanf(l, `{"g":%d,"i":%d,"pad":%q}`+"\n", &g, &i, &pad); err != nil || pad != strings.Repeat("p", 40) {
				t.Fatalf("line %q is not whole: %v", l, err)
			}
			if i < next[g] {
				t.Fatalf("goroutine %d: line %d after line %d; want them in order", g, i, next[g]-1)
			}
			next[g] = i + 1
			lines++
		}
	}
	if got, want := uint64(lines)+dropped, uint64(goroutines*perGoroutine); got != want {
		t.Errorf("%d lines written + %d dropped = %d; want %d", lines, dropped, got, want)
	}
}

func TestLogWriterDropsWholeLines(t *testing.T) {
	tests := []struct {
		desc        string
		lines       []string
		want        string
		wantDropped uint64
	}{
		{"lines that fill the buffer exactly", []string{"12345\n", "abc\n"}, "12345\nabc\n", 0},
		{"a line that does not fit is dropped, a later one that does is kept", []string{"12345\n", "abcdef\n", "xyz\n"}, "12345\nxyz\n", 1},
		{"a line longer than the buffer", []string{"0123456789ab\n", "ok\n"}, "ok\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			out := newGateWriter()
			w := &logWriter{Out: out, Size: 10}
			w.start()
			// Park the flusher in the stalled output so the buffer is empty
			// and nothing drains it while the lines go in.
			w.Write([]byte("a\n"))
			awaitClosed(t, out.entered, "the flusher to write")
			for _, l := range tt.lines {
				w.Write([]byte(l))
			}
			close(out.release)
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got, want := strings.Join(out.Chunks(), ""), "a\n"+tt.want; got != want {
				t.Errorf("output %q; want %q", got, want)
			}
			if got := w.Dropped(); got != tt.wantDropped {
				t.Errorf("Dropped() = %d; want %d", got, tt.wantDropped)
			}
		})
	}
}

// TestLogWriterCloseGivesUp checks Close returns when the output never reads
// again, and counts what it could not write.
func TestLogWriterCloseGivesUp(t *testing.T) {
	out := newGateWriter()
	w := &logWriter{Out: out, CloseTimeout: 50 * time.Millisecond}
	w.start()
	t.Cleanup(func() {
		close(out.release)
		<-w.done
	})
	for i := range 10 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	awaitClosed(t, out.entered, "the flusher to write")
	for i := range 5 {
		fmt.Fprintf(w, "line %d\n", 10+i)
	}

	if err := w.Close(); err == nil {
		t.Error("Close with a stalled output returned nil; want an error")
	}
	if got := w.Dropped(); got != 15 {
		t.Errorf("Dropped() = %d; want all 15 lines", got)
	}
	w.Write([]byte("after close\n"))
	if got := w.Dropped(); got != 16 {
		t.Errorf("Dropped() after a Write after Close = %d; want 16", got)
	}
	if err := w.Close(); err == nil {
		t.Error("second Close returned nil; want the first one's error")
	}
}

// shortWriter takes the first n bytes it is given, then fails.
type shortWriter struct {
	n   int
	out lockedBuilder
}

func (s *shortWriter) Write(p []byte) (int, error) {
	k := min(s.n, len(p))
	s.n -= k
	s.out.Write(p[:k])
	if k < len(p) {
		return k, errors.New("broken pipe")
	}
	return k, nil
}

func TestLogWriterCountsLinesTheOutputRefused(t *testing.T) {
	out := &shortWriter{n: 4}
	w := &logWriter{Out: out, FlushEvery: time.Hour}
	w.start()
	for _, l := range []string{"aa\n", "bb\n", "cc\n"} {
		w.Write([]byte(l))
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The output took "aa\nb": one whole line, one cut short, one not at all.
	if got := w.Dropped(); got != 2 {
		t.Errorf("Dropped() = %d; want 2", got)
	}
}
