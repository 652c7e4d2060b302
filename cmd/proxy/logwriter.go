package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logWriter buffers log lines and writes them at most flushEvery apart, or
// when the buffer fills, so one access-log line per request costs no system
// call of its own. A crash can lose at most the last flushEvery of lines;
// Close writes out the rest.
type logWriter struct {
	mu  sync.Mutex // guards buf
	buf *bufio.Writer

	stop chan struct{}
	done chan struct{}
}

const flushEvery = 100 * time.Millisecond

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go l.loop()
	return l
}

// Write buffers p, one whole line as slog writes it.
func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logWriter) loop() {
	defer close(l.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			l.flush()
		case <-l.stop:
			l.flush()
			return
		}
	}
}

func (l *logWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Flush()
}

// Close stops the flushing loop and writes out what is buffered.
func (l *logWriter) Close() error {
	close(l.stop)
	<-l.done
	return nil
}
