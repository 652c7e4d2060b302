package main

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// logWriter buffers log lines and writes them out from its own goroutine at
// most FlushEvery after the first of them, or sooner once the buffer is half
// full, so one access-log line per request costs no system call of its own
// and a stalled log reader (a full pipe) never blocks a request: Write only
// appends to memory, and when the buffer is full it drops the line whole and
// counts it.
// A crash loses what is still buffered; Close writes it out, waiting at most
// CloseTimeout for a stalled reader.
//
// Write must be called with whole lines, one per call, as slog's handlers do;
// each call counts as one line.
//
// The fields are read once by start (newLogWriter calls it) and must not be
// changed after.
type logWriter struct {
	// Out receives the lines. Its Write may block for as long as it likes;
	// only the flushing goroutine waits for it.
	Out io.Writer
	// Size bounds the bytes waiting to be written; zero means 1 MiB. While
	// the flusher is blocked in Out.Write with one full buffer, Size more
	// bytes can wait, so memory use is at most about twice Size.
	Size int
	// FlushEvery is how long a line may wait to be written; zero means
	// flushEvery.
	FlushEvery time.Duration
	// CloseTimeout bounds how long Close waits for Out to take the buffered
	// lines; zero means closeTimeout.
	CloseTimeout time.Duration

	mu       sync.Mutex // guards buf, lines, inflight, closed and abandoned
	buf      []byte     // lines waiting for the flusher
	lines    int        // number of lines in buf
	inflight int        // lines the flusher is writing to Out right now
	// closed is set by the flusher's last swap (or by Close giving up); any
	// later Write is dropped because nothing would ever write it out.
	closed bool
	// abandoned is set when Close gave up on a stalled Out and counted the
	// in-flight lines as dropped, so the flusher must not count them again.
	abandoned bool

	dropped atomic.Uint64 // lines dropped so far
	// pending is signalled when a line goes into an empty buffer, and
	// half when the buffer passes half full; both have capacity 1. The
	// flusher sleeps on them, so an idle writer runs no timer at all: a
	// process that wakes up costs CPU in proportion to its resident memory
	// on some virtual machines (issue #11).
	pending   chan struct{}
	half      chan struct{}
	stop      chan struct{} // closed by Close
	done      chan struct{} // closed when the flusher returns
	closeOnce sync.Once
	closeErr  error
}

const (
	flushEvery   = 100 * time.Millisecond
	logBufSize   = 1 << 20
	closeTimeout = 2 * time.Second
)

// newLogWriter returns a started logWriter writing to w with the defaults.
func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{Out: w}
	l.start()
	return l
}

// newLogDropCounter registers on reg the count of lines l dropped, read from
// l.Dropped at each scrape.
func newLogDropCounter(reg prometheus.Registerer, l *logWriter) prometheus.CounterFunc {
	c := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "rzpgate_log_lines_dropped_total",
		Help: "Log lines dropped because the log output was not keeping up.",
	}, func() float64 { return float64(l.Dropped()) })
	reg.MustRegister(c)
	return c
}

// start applies the defaults and starts the flusher.
func (l *logWriter) start() {
	if l.Size <= 0 {
		l.Size = logBufSize
	}
	if l.FlushEvery <= 0 {
		l.FlushEvery = flushEvery
	}
	if l.CloseTimeout <= 0 {
		l.CloseTimeout = closeTimeout
	}
	l.pending = make(chan struct{}, 1)
	l.half = make(chan struct{}, 1)
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	go l.loop()
}

// Write buffers a copy of p, one whole line, or drops it if it does not fit.
// It never does I/O and always returns len(p), nil: a logger has nowhere to
// report a lost line but Dropped.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	before := len(l.buf)
	if l.closed || before+len(p) > l.Size {
		l.mu.Unlock()
		l.drop(1)
		return len(p), nil
	}
	l.buf = append(l.buf, p...)
	l.lines++
	l.mu.Unlock()
	// Wake the flusher once per empty buffer and once per crossing of the
	// fill level, not per line; if it is busy writing, the signal waits.
	if before == 0 {
		notify(l.pending)
	}
	if half := l.Size / 2; before < half && before+len(p) >= half {
		notify(l.half)
	}
	return len(p), nil
}

// notify sends on c, of capacity 1, unless a signal is already waiting.
func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Dropped returns how many lines were dropped so far.
func (l *logWriter) Dropped() uint64 {
	return l.dropped.Load()
}

func (l *logWriter) drop(n int) {
	if n <= 0 {
		return
	}
	l.dropped.Add(uint64(n))
}

func (l *logWriter) loop() {
	defer close(l.done)
	t := time.NewTimer(l.FlushEvery)
	t.Stop()
	var spare []byte
	for {
		// Sleep until there is a line to write.
		select {
		case <-l.pending:
		case <-l.half:
			spare = l.flush(spare, false)
			continue
		case <-l.stop:
			l.flush(spare, true)
			return
		}
		// Write it out FlushEvery later, with whatever joined it, or as
		// soon as the buffer is half full. A signal left over from lines
		// an earlier flush took costs one flush of an empty buffer.
		t.Reset(l.FlushEvery)
		select {
		case <-t.C:
		case <-l.half:
			t.Stop()
		case <-l.stop:
			t.Stop()
			l.flush(spare, true)
			return
		}
		spare = l.flush(spare, false)
	}
}

// flush swaps the buffer for spare under the lock and writes the old one to
// Out without it, so Writes go on while Out blocks. It returns the written
// buffer for reuse. With last set, it also closes the writer to new lines.
func (l *logWriter) flush(spare []byte, last bool) []byte {
	l.mu.Lock()
	batch, n := l.buf, l.lines
	l.buf, l.lines = spare[:0], 0
	l.inflight = n
	if last {
		l.closed = true
	}
	l.mu.Unlock()
	if len(batch) == 0 {
		return batch
	}

	written, err := l.Out.Write(batch)

	l.mu.Lock()
	l.inflight = 0
	abandoned := l.abandoned
	l.mu.Unlock()
	if err != nil && !abandoned {
		// Out took only batch[:written]; every line whose newline did not
		// make it is lost, including one cut in the middle.
		l.drop(bytes.Count(batch[written:], []byte{'\n'}))
	}
	return batch
}

// Close writes out what is buffered and stops the flusher. If Out does not
// take the lines within CloseTimeout, Close gives up, counts the lines still
// waiting or being written as dropped, and returns an error; the flusher
// then exits whenever Out returns. Writes after Close are dropped.
func (l *logWriter) Close() error {
	l.closeOnce.Do(func() {
		close(l.stop)
		t := time.NewTimer(l.CloseTimeout)
		defer t.Stop()
		select {
		case <-l.done:
			return
		case <-t.C:
		}
		l.mu.Lock()
		n := l.lines + l.inflight
		l.buf, l.lines, l.inflight = nil, 0, 0
		l.closed, l.abandoned = true, true
		l.mu.Unlock()
		l.drop(n)
		l.closeErr = fmt.Errorf("flushing logs: output stalled for %v; dropped %d lines", l.CloseTimeout, n)
	})
	return l.closeErr
}
