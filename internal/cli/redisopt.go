package cli

import "github.com/hibiken/asynq"

// redisPassword extracts the password of a parsed REDIS_URL, for redaction.
func RedisPassword(opt asynq.RedisConnOpt) string {
	switch o := opt.(type) {
	case asynq.RedisClientOpt:
		return o.Password
	case asynq.RedisFailoverClientOpt:
		if o.Password != "" {
			return o.Password
		}
		return o.SentinelPassword
	case asynq.RedisClusterClientOpt:
		return o.Password
	}
	return ""
}
