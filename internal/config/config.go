// Package config reads the settings shared by every binary: Redis and Sinch.
//
// Each setting is an environment variable that a flag of the same meaning
// overrides. Values are validated at startup and errors name the setting;
// secrets are never echoed (flags carry no env-derived defaults, so --help
// cannot print them).
package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/sinch-dispatch/sinch-dispatch/internal/rawconn"
)

// DefaultRedisURL is used when neither --redis-url nor REDIS_URL is set.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// setting binds one flag to one environment variable.
type setting struct {
	flag, env, usage string
	target           *string
	def              string
	secret           bool
}

// Settings holds the shared settings after Load.
type Settings struct {
	RedisURL string

	SinchProjectID string
	SinchAppID     string
	SinchKeyID     string
	SinchKeySecret string
	SinchRegion    string
	SinchBaseURL   string
	SinchAuthURL   string
	SinchAuth      string
	SinchTimeout   time.Duration

	all []setting
	fs  *flag.FlagSet
}

// Register adds the shared flags to fs. Call Load after fs.Parse.
func Register(fs *flag.FlagSet) *Settings {
	s := &Settings{fs: fs}
	s.all = []setting{
		{flag: "redis-url", env: "REDIS_URL", target: &s.RedisURL, def: DefaultRedisURL,
			usage: "Redis URL: redis://, rediss://, redis-socket://, redis-sentinel://[:password@]host:port,...?master=NAME or redis-cluster://[:password@]host:port,..."},
		{flag: "sinch-project-id", env: "SINCH_PROJECT_ID", target: &s.SinchProjectID, usage: "Sinch project ID"},
		{flag: "sinch-app-id", env: "SINCH_APP_ID", target: &s.SinchAppID, usage: "Sinch Conversation API app ID"},
		{flag: "sinch-key-id", env: "SINCH_KEY_ID", target: &s.SinchKeyID, usage: "Sinch access key ID"},
		{flag: "sinch-key-secret", env: "SINCH_KEY_SECRET", target: &s.SinchKeySecret, secret: true,
			usage: "Sinch access key secret (prefer the env var: flags show in ps)"},
		{flag: "sinch-region", env: "SINCH_REGION", target: &s.SinchRegion, def: "us", usage: "Sinch region: us, eu or br"},
		{flag: "sinch-base-url", env: "SINCH_BASE_URL", target: &s.SinchBaseURL,
			usage: "override the API base URL (e.g. the simulator's); default from the region"},
		{flag: "sinch-auth-url", env: "SINCH_AUTH_URL", target: &s.SinchAuthURL,
			usage: "OAuth2 token URL (default https://auth.sinch.com/oauth2/token)"},
		{flag: "sinch-auth", env: "SINCH_AUTH", target: &s.SinchAuth, def: "oauth2", usage: "API auth: oauth2 or basic"},
	}
	for _, st := range s.all {
		def := ""
		if !st.secret {
			def = st.def
		}
		fs.StringVar(st.target, st.flag, def, st.usage+" [env "+st.env+"]")
	}
	fs.DurationVar(&s.SinchTimeout, "sinch-timeout", 10*time.Second, "HTTP timeout for one Sinch API call")
	return s
}

// Load fills every setting whose flag was not given from the environment,
// then validates the Redis URL. Sinch settings are validated by RequireSinch.
func (s *Settings) Load(getenv func(string) string) error {
	given := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, st := range s.all {
		if given[st.flag] {
			continue
		}
		if v := strings.TrimSpace(getenv(st.env)); v != "" {
			*st.target = v
		}
	}
	if s.SinchTimeout <= 0 {
		return errors.New("--sinch-timeout must be positive")
	}
	if _, err := s.RedisOpt(); err != nil {
		return err
	}
	return nil
}

// RequireSinch checks that the settings a Sinch client needs are present.
// The sinch package validates the values themselves.
func (s *Settings) RequireSinch() error {
	var missing []string
	for _, st := range s.all {
		if strings.HasPrefix(st.env, "SINCH_") && st.def == "" && *st.target == "" &&
			st.env != "SINCH_BASE_URL" && st.env != "SINCH_AUTH_URL" {
			missing = append(missing, st.env+" (--"+st.flag+")")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing setting: %s", strings.Join(missing, ", "))
	}
	return nil
}

// RedisOpt parses RedisURL into asynq connection options: a
// RedisClusterClientOpt for redis-cluster://, else what asynq.ParseRedisURI
// makes of it (a RedisFailoverClientOpt for redis-sentinel://).
func (s *Settings) RedisOpt() (asynq.RedisConnOpt, error) {
	if strings.HasPrefix(s.RedisURL, ClusterScheme+"://") {
		return parseClusterURL(s.RedisURL)
	}
	opt, err := asynq.ParseRedisURI(s.RedisURL)
	if err != nil {
		// The URL may hold a password: name the setting, not the value.
		return nil, fmt.Errorf("REDIS_URL (--redis-url) is not a valid Redis URL: %s", redactURLError(err, s.RedisURL))
	}
	if f, ok := opt.(asynq.RedisFailoverClientOpt); ok && f.MasterName == "" {
		return nil, errors.New("REDIS_URL (--redis-url): a redis-sentinel:// URL needs ?master=NAME, the master's name in the sentinels' configuration")
	}
	return opt, nil
}

// RedisClient opens a go-redis client on the same server and database as
// asynq. Its connections make raw system calls (rawconn).
func (s *Settings) RedisClient() (redis.UniversalClient, error) {
	opt, err := s.RedisOpt()
	if err != nil {
		return nil, err
	}
	c, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, errors.New("REDIS_URL (--redis-url): unsupported connection type")
	}
	rawconn.Install(c)
	return c, nil
}

// redactURLError keeps the parser's reason but drops the URL it may quote.
func redactURLError(err error, raw string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	msg := err.Error()
	if raw != "" {
		msg = strings.ReplaceAll(msg, raw, "<url>")
	}
	return msg
}
