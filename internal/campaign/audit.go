package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// AuditLimit is how many entries a campaign's audit log keeps: the oldest
// are dropped beyond it.
const AuditLimit = 1000

// AuditEntry is one operator action on a campaign: who, what, when, from
// where and how it ended. It never holds a secret, a phone number or a
// message body.
type AuditEntry struct {
	At     time.Time `json:"at"`
	User   string    `json:"user"` // "user:<name>", "bearer" or "anonymous"
	Role   string    `json:"role"`
	Action string    `json:"action"` // pause, resume, cancel, retry
	Addr   string    `json:"addr"`   // the client's IP address
	Status int       `json:"status"` // the HTTP status answered
	Result string    `json:"result"` // "ok", or why it was refused
}

// appendAuditScript pushes ARGV[1] onto the audit log KEYS[2] of the
// campaign whose definition is KEYS[1], keeps the newest ARGV[2] entries
// and gives the log the definition's TTL (ARGV[3] ms when the definition
// has none), so the log lives and dies with its campaign. Returns 0 when
// the campaign does not exist: nothing is written then.
var appendAuditScript = redis.NewScript(`
if redis.call("EXISTS", KEYS[1]) == 0 then return 0 end
redis.call("LPUSH", KEYS[2], ARGV[1])
redis.call("LTRIM", KEYS[2], 0, tonumber(ARGV[2]) - 1)
local ttl = redis.call("PTTL", KEYS[1])
if ttl < 0 then ttl = tonumber(ARGV[3]) end
redis.call("PEXPIRE", KEYS[2], ttl)
return 1
`)

// AppendAudit adds e to the campaign's audit log. A campaign that does not
// exist gets no log: ErrNotFound.
func (s *Store) AppendAudit(ctx context.Context, id string, e AuditEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	n, err := appendAuditScript.Run(ctx, s.rdb, []string{keysFor(id).Def, keysFor(id).Audit},
		b, AuditLimit, Retention.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return nil
}

// Audit returns up to limit entries of the campaign's audit log, newest
// first (limit <= 0: all of them).
func (s *Store) Audit(ctx context.Context, id string, limit int) ([]AuditEntry, error) {
	stop := int64(limit) - 1
	if limit <= 0 {
		stop = -1
	}
	raw, err := s.rdb.LRange(ctx, keysFor(id).Audit, 0, stop).Result()
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	out := make([]AuditEntry, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
			return nil, fmt.Errorf("campaign %s: corrupt audit entry %d: %w", id, i, err)
		}
	}
	return out, nil
}
