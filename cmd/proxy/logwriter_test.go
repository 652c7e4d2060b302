package main

import (
	"strings"
	"sync"
	"testing"
	"time"
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
	w.Close()
	if got := out.String(); got != "one\ntwo\n" {
		t.Errorf("after Close: %q; want both lines", got)
	}
}
