package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in YAML and in the environment as a Go
// duration string such as "250ms", "10s" or "1m30s". The zero Duration is
// zero time; whether that is allowed depends on the field.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d the way time.Duration does, for example "1m30s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText encodes d as a Go duration string, so a Duration works with
// flag.TextVar.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a Go duration string such as "10s".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := parseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML encodes d as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML decodes a scalar Go duration string. A bare number is
// rejected, except 0, because "10" could mean seconds or nanoseconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a duration such as 10s")
	}
	return d.UnmarshalText([]byte(n.Value))
}

func parseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want a Go duration such as 250ms, 10s or 1m30s)", s)
	}
	return Duration(v), nil
}

// Byte size units accepted by ParseByteSize.
const (
	KiB ByteSize = 1 << 10 // KiB is 1024 bytes.
	MiB ByteSize = 1 << 20 // MiB is 1024 KiB.
	GiB ByteSize = 1 << 30 // GiB is 1024 MiB.
	TiB ByteSize = 1 << 40 // TiB is 1024 GiB.
)

// byteUnits maps a lower-cased unit suffix to its multiplier. Decimal units
// (KB, MB) are powers of 1000 and binary units (KiB, MiB) powers of 1024.
var byteUnits = map[string]ByteSize{
	"":    1,
	"b":   1,
	"kb":  1e3,
	"kib": KiB,
	"mb":  1e6,
	"mib": MiB,
	"gb":  1e9,
	"gib": GiB,
	"tb":  1e12,
	"tib": TiB,
}

// ByteSize is a number of bytes, written in YAML and in the environment either
// as a plain integer (1048576) or as an integer with a unit: B, KB, MB, GB, TB
// (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), case-insensitive,
// for example "64KiB" or "512 MB". The zero ByteSize is zero bytes; whether
// that is allowed depends on the field.
type ByteSize int64

// Int64 returns b as an int64 number of bytes.
func (b ByteSize) Int64() int64 { return int64(b) }

// ParseByteSize parses a non-negative size such as "1048576", "64KiB" or
// "1MB". Fractions, signs and sizes beyond int64 are rejected.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid size %q (want bytes such as 1048576, 64KiB or 1MiB)", s)
	}
	mult, ok := byteUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit (want B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil || ByteSize(n) > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return ByteSize(n) * mult, nil
}

// String formats b with the largest binary unit that divides it exactly,
// for example "1MiB", or as a plain number of bytes, for example "1000".
func (b ByteSize) String() string {
	if b != 0 {
		for _, u := range []struct {
			size ByteSize
			name string
		}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
			if b%u.size == 0 {
				return strconv.FormatInt(int64(b/u.size), 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// MarshalText encodes b as String does, so a ByteSize works with flag.TextVar.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses a size as ParseByteSize does.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML encodes b as a plain integer, or as a string with a binary unit
// when one divides it exactly.
func (b ByteSize) MarshalYAML() (any, error) {
	if s := b.String(); strings.HasSuffix(s, "B") {
		return s, nil
	}
	return int64(b), nil
}

// UnmarshalYAML decodes a scalar size as ParseByteSize does, whether it is
// written as a YAML integer or string.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("must be a size such as 1048576 or 1MiB")
	}
	return b.UnmarshalText([]byte(n.Value))
}
