package proxy

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadBody(t *testing.T) {
	body := strings.Repeat("x", 700)
	cut := errors.New("cut")
	tests := []struct {
		desc     string
		r        io.Reader
		declared int64
		limit    int
		want     string
		err      error
	}{
		{"declared", strings.NewReader(body), 700, 1000, body, nil},
		{"one byte at a time", iotest.OneByteReader(strings.NewReader(body)), 700, 1000, body, nil},
		{"undeclared", strings.NewReader(body), -1, 1000, body, nil},
		{"longer than declared", strings.NewReader(body), 10, 1000, body, nil},
		{"shorter than declared", strings.NewReader(body), 900, 1000, body, nil},
		{"over the limit", strings.NewReader(body), 700, 100, body[:101], nil},
		{"declared over the limit", strings.NewReader(body), 700, 100, body[:101], nil},
		{"error", io.MultiReader(strings.NewReader(body[:10]), iotest.ErrReader(cut)), 700, 1000, body[:10], cut},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := readBody(tt.r, tt.declared, tt.limit)
			if !errors.Is(err, tt.err) || !bytes.Equal(got, []byte(tt.want)) {
				t.Errorf("readBody = %d bytes, %v; want %d bytes, %v", len(got), err, len(tt.want), tt.err)
			}
		})
	}
}
