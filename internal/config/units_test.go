package config

import (
	"math"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr bool
	}{
		{in: "0", want: 0},
		{in: "1048576", want: MiB},
		{in: "512B", want: 512},
		{in: "64KiB", want: 64 * KiB},
		{in: "64kib", want: 64 * KiB},
		{in: "1MiB", want: MiB},
		{in: "1GiB", want: GiB},
		{in: "2TiB", want: 2 * TiB},
		{in: "512KB", want: 512000},
		{in: "1MB", want: 1000000},
		{in: "3GB", want: 3e9},
		{in: "1TB", want: 1e12},
		{in: " 16 MiB ", want: 16 * MiB},
		{in: "9223372036854775807", want: math.MaxInt64},
		{in: "", wantErr: true},
		{in: "MiB", wantErr: true},
		{in: "-1", wantErr: true},
		{in: "+1", wantErr: true},
		{in: "1.5MiB", wantErr: true},
		{in: "1M", wantErr: true},
		{in: "1PiB", wantErr: true},
		{in: "0x10", wantErr: true},
		{in: "1_000", wantErr: true},
		{in: "9223372036854775808", wantErr: true},
		{in: "8388608TiB", wantErr: true},
		{in: "8388607TiB", want: 8388607 * TiB},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			switch {
			case tt.wantErr && err == nil:
				t.Errorf("ParseByteSize(%q) = %d, want an error", tt.in, got)
			case !tt.wantErr && err != nil:
				t.Errorf("ParseByteSize(%q) error: %v", tt.in, err)
			case got != tt.want:
				t.Errorf("ParseByteSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestByteSizeString(t *testing.T) {
	tests := []struct {
		in   ByteSize
		want string
	}{
		{0, "0"}, {1, "1"}, {1000, "1000"}, {KiB, "1KiB"}, {1536, "1536"}, {3 * KiB, "3KiB"}, {MiB + 1, "1048577"},
		{256 * MiB, "256MiB"}, {GiB, "1GiB"}, {3 * TiB, "3TiB"}, {-KiB, "-1KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.in.String(); got != tt.want {
				t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
			}
		})
	}
}

func TestUnitsYAML(t *testing.T) {
	type doc struct {
		D Duration `yaml:"d"`
		B ByteSize `yaml:"b"`
	}
	tests := []struct {
		desc    string
		in      string
		want    doc
		wantErr string
	}{
		{desc: "units", in: "d: 1m30s\nb: 64KiB\n", want: doc{Duration(90 * time.Second), 64 * KiB}},
		{desc: "plain integer size", in: "b: 1048576\n", want: doc{B: MiB}},
		{desc: "quoted size", in: "b: \"1048576\"\n", want: doc{B: MiB}},
		{desc: "zero duration", in: "d: 0\n", want: doc{}},
		{desc: "negative duration", in: "d: -5s\n", want: doc{D: Duration(-5 * time.Second)}},
		{desc: "duration without unit", in: "d: 10\n", wantErr: `invalid duration "10"`},
		{desc: "duration list", in: "d: [1s]\n", wantErr: "must be a duration"},
		{desc: "size with fraction", in: "b: 1.5MiB\n", wantErr: `invalid size "1.5MiB"`},
		{desc: "size map", in: "b: {a: 1}\n", wantErr: "must be a size"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var got doc
			err := yaml.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Unmarshal(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Unmarshal(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			out, err := yaml.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var back doc
			if err := yaml.Unmarshal(out, &back); err != nil || back != got {
				t.Errorf("Unmarshal(Marshal(%+v)) = %+v, %v; Marshal gave %q", got, back, err, out)
			}
		})
	}
}

func TestUnitsText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("250ms")); err != nil || d.D() != 250*time.Millisecond {
		t.Errorf("Duration.UnmarshalText(250ms) = %v, %v; want 250ms, nil", d, err)
	}
	if b, _ := d.MarshalText(); string(b) != "250ms" {
		t.Errorf("Duration.MarshalText() = %q, want 250ms", b)
	}
	var s ByteSize
	if err := s.UnmarshalText([]byte("2MiB")); err != nil || s.Int64() != 2<<20 {
		t.Errorf("ByteSize.UnmarshalText(2MiB) = %d, %v; want %d, nil", s, err, 2<<20)
	}
	if b, _ := s.MarshalText(); string(b) != "2MiB" {
		t.Errorf("ByteSize.MarshalText() = %q, want 2MiB", b)
	}
}

func FuzzByteSize(f *testing.F) {
	for _, s := range []string{"0", "1048576", "64KiB", "1mib", "512KB", "1 GB", "9223372036854775807", "8388608TiB", "-1", "1.5MB", "", " 7 b "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseByteSize(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("ParseByteSize(%q) = %d, want a non-negative size", s, b)
		}
		again, err := ParseByteSize(b.String())
		if err != nil || again != b {
			t.Fatalf("ParseByteSize(%q) = %d; its String %q parses to %d, %v", s, b, b.String(), again, err)
		}
		out, err := yaml.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		var back ByteSize
		if err := yaml.Unmarshal(out, &back); err != nil || back != b {
			t.Fatalf("YAML round trip of %d via %q = %d, %v", b, out, back, err)
		}
	})
}
