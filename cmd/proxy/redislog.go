package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// redisLog routes go-redis's internal log lines, which it would otherwise
// print as plain text to stderr, to a slog.Logger at WARN, so every line the
// process prints is JSON. It implements go-redis's logging interface for
// redis.SetLogger.
//
// go-redis's lines name addresses and errors (a failed dial, a failed
// re-authentication) but not passwords; nothing is added to them here.
type redisLog struct {
	log *slog.Logger
}

// redisLogger returns the adapter for redis.SetLogger(redisLogger(logger)).
func redisLogger(log *slog.Logger) redisLog {
	return redisLog{log: log}
}

// Printf logs one go-redis line as msg "redis client" with the text in detail.
func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	if !r.log.Enabled(ctx, slog.LevelWarn) {
		return
	}
	// Some lines end in a newline, as log.Printf would accept; a trailing
	// newline in a JSON string is noise.
	detail := strings.TrimRight(fmt.Sprintf(format, v...), "\n")
	r.log.LogAttrs(ctx, slog.LevelWarn, "redis client", slog.String("detail", detail))
}
