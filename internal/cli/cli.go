// Package cli holds what every command shares: the exit-code contract of
// Main, flag parsing that turns mistakes into usage errors, the Redis
// connection check, the logger, and the Sinch client and shared rate limit
// built from the settings. Each binary's own flags and wiring live in its
// package (workercli, enqueuecli, campaigncli, dashboardcli, democli), so a
// binary links only what it runs.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/config"
)

// Env reads environment variables (os.Getenv in production).
type Env func(string) string

// ErrUsage marks a command-line error; mains exit 2 for it.
var ErrUsage = errors.New("usage")

// newFlagSet returns a FlagSet that reports errors instead of exiting.
func NewFlagSet(name string, stderr io.Writer, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\nFlags (each also accepts --name):\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args and loads the shared settings from env.
func Parse(fs *flag.FlagSet, s *config.Settings, args []string, getenv Env) error {
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	return s.Load(getenv)
}

// ParseFlags parses args, which must be flags only. A bad flag or a stray
// argument is an ErrUsage (exit 2 from Main); --help is flag.ErrHelp.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return FlagError(err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	return nil
}

// flagError makes a FlagSet.Parse error an ErrUsage, leaving --help as is.
func FlagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrUsage, err)
}

// connectRedis opens the configured Redis and checks it answers, so an
// unreachable server fails at startup with a clear message.
func ConnectRedis(ctx context.Context, s *config.Settings) (redis.UniversalClient, error) {
	rdb, err := s.RedisClient()
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis unreachable (REDIS_URL): %s", RedactRedisErr(err, s))
	}
	return rdb, nil
}

// redactRedisErr keeps the reason but never the password from the URL.
func RedactRedisErr(err error, s *config.Settings) string {
	msg := err.Error()
	if opt, perr := s.RedisOpt(); perr == nil {
		if pw := RedisPassword(opt); pw != "" {
			msg = strings.ReplaceAll(msg, pw, "<redacted>")
		}
	}
	return msg
}

// newLogger builds the process logger: JSON or text on stderr.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, got %q", format)
}

// isTerminal reports whether w is a character device (a progress bar is
// only drawn there).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// StopKeywords reads --stop-keywords, a comma-separated keyword list.
func StopKeywords(s string) ([]string, error) {
	var out []string
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			if strings.ContainsFunc(k, func(r rune) bool { return r == ' ' || r == '\t' }) {
				return nil, errors.New("--stop-keywords: each keyword is one word, got " + `"` + k + `"`)
			}
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--stop-keywords must list at least one keyword")
	}
	return out, nil
}
