package enqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redisguard"
)

// ErrRedisFull is what NoRoomError and RedisFullError are (errors.Is):
// Redis has no room for the upload.
var ErrRedisFull = errors.New("redis has no room for the upload")

// NoRoomError refuses an upload, before anything is written, whose
// estimated footprint is more than Redis's free memory (maxmemory minus
// used_memory).
type NoRoomError struct {
	CampaignID string
	Rows       int64 // rows of the CSV, an upper bound on its recipients
	Estimate   int64 // Rows × UploadBytesPerRecipient
	Memory     redisguard.Memory
}

func (e *NoRoomError) Error() string {
	return fmt.Sprintf("campaign %s does not fit in Redis: %d rows × %d bytes per pending recipient = %s, "+
		"but Redis%s has %s free (maxmemory %s, used_memory %s); nothing was written. "+
		"Raise maxmemory (redis-cli CONFIG SET maxmemory ..., and in redis.conf), let the workers send what is queued, "+
		"or split the CSV", e.CampaignID, e.Rows, UploadBytesPerRecipient, bytesOf(e.Estimate), onNode(e.Memory),
		bytesOf(e.Memory.Free()), bytesOf(e.Memory.Max), bytesOf(e.Memory.Used))
}

func (e *NoRoomError) Is(target error) bool { return target == ErrRedisFull }

// RedisFullError stops an upload that Redis ran out of room for on the
// way: Redis refused a write (OOM), or, for an upload whose rows could not
// be counted beforehand, the room left fell below what the next rows need.
// What was written stays consistent, and the same upload run again (same
// campaign ID) writes only what is missing.
type RedisFullError struct {
	CampaignID string
	Rows       int64 // rows read
	LastRow    int   // file row of the last row handed to Redis; 0: none
	Tasks      int64 // recipients whose send task this run wrote or found
	// Waiting is how many recipients this run registered (or found
	// pending) whose send task it did not write: at most that many wait
	// for the re-run.
	Waiting int64
	// Err is Redis's OOM error; nil when the room check stopped the upload
	// before Redis had to refuse a write.
	Err error
	// Memory and Need are the room check's figures (Err nil).
	Memory redisguard.Memory
	Need   int64
}

func (e *RedisFullError) Error() string {
	why := fmt.Sprintf("Redis ran out of memory (%v)", e.Err)
	if e.Err == nil {
		why = fmt.Sprintf("Redis%s is nearly full (%s free of maxmemory %s, less than the %s the next rows may need)",
			onNode(e.Memory), bytesOf(e.Memory.Free()), bytesOf(e.Memory.Max), bytesOf(e.Need))
	}
	last := ""
	if e.LastRow > 0 {
		last = fmt.Sprintf(", the last handed to Redis row %d", e.LastRow)
	}
	return fmt.Sprintf("campaign %s: %s: the upload stopped after reading %d rows%s; %d recipients have their send task, "+
		"up to %d registered ones do not yet. Make room (raise maxmemory, let the workers send what is queued) and run "+
		"the same upload again with the same campaign ID: it writes only what is missing and sends nobody twice",
		e.CampaignID, why, e.Rows, last, e.Tasks, e.Waiting)
}

func (e *RedisFullError) Is(target error) bool { return target == ErrRedisFull }
func (e *RedisFullError) Unwrap() error        { return e.Err }

func onNode(m redisguard.Memory) string {
	if m.Node != "" {
		return " node " + m.Node
	}
	return ""
}

// bytesOf writes n for a person: "9.3 MiB (9730000 bytes)".
func bytesOf(n int64) string {
	const mib = 1 << 20
	if n < mib {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f MiB (%d bytes)", float64(n)/mib, n)
}

// room follows, for one upload, whether Redis has room for it.
type room struct {
	// watch is set when the rows could not be counted beforehand (a
	// stream): the room left is checked every roomEvery rows instead.
	watch bool
	since int // rows registered since the last check
	// owed counts the recipients registered (new or pending) that need a
	// send task; lastRow is the file row of the last one handed to Redis.
	owed    atomic.Int64
	lastRow int
}

// owe counts the registered recipients that need a send task: new ones,
// and those pending from an earlier run (whose task may be missing).
func (rm *room) owe(results []campaign.RegisterResult) {
	var n int64
	for _, res := range results {
		if st, known := res.Existing(); res != campaign.RegisteredDuplicate && (!known || st == campaign.StatusPending) {
			n++
		}
	}
	rm.owed.Add(n)
}

// roomEvery is how many rows a streamed upload registers between two room
// checks; the check wants room for twice as many, so that one Redis round
// trip per 4096 rows keeps the upload away from Redis's OOM refusal.
const roomEvery = 4096

// checkRoom runs before anything is written. It refuses a limited Redis
// (maxmemory set) that cannot hold rows × UploadBytesPerRecipient more. A CSV
// that can be read twice (a file) is counted first; a stream is watched as
// it is written instead (watchRoom).
func (r *run) checkRoom(ctx context.Context) error {
	mem, err := redisguard.Read(ctx, r.e.store.Redis())
	if err != nil {
		return err
	}
	if !mem.Limited() {
		return nil
	}
	rows, counted, err := countRows(r.opts.CSV, r.opts.Delimiter)
	if err != nil {
		return fmt.Errorf("counting the CSV's rows: %w", err)
	}
	if !counted {
		r.room.watch = true
		return nil
	}
	if est := rows * UploadBytesPerRecipient; est > mem.Free() {
		return &NoRoomError{CampaignID: r.opts.CampaignID, Rows: rows, Estimate: est, Memory: mem}
	}
	return nil
}

// watchRoom is called before a batch of rows is registered; for a
// streamed upload it stops the upload when the room left is below what
// the next 2 × roomEvery rows need.
func (r *run) watchRoom(ctx context.Context, rows int) error {
	if !r.room.watch {
		return nil
	}
	if r.room.since > 0 && r.room.since+rows <= roomEvery {
		r.room.since += rows
		return nil
	}
	r.room.since = rows
	mem, err := redisguard.Read(ctx, r.e.store.Redis())
	if err != nil {
		return err
	}
	if need := int64(2*roomEvery) * UploadBytesPerRecipient; mem.Limited() && mem.Free() < need {
		return &RedisFullError{Memory: mem, Need: need}
	}
	return nil
}

// full turns an error that stopped the upload into a RedisFullError with
// how far it got when Redis ran out of room, and returns others as they are.
func (r *run) full(err error, sum Summary) error {
	var rf *RedisFullError
	if !errors.As(err, &rf) {
		if !redisguard.IsOOM(err) {
			return err
		}
		rf = &RedisFullError{Err: err}
	}
	rf.CampaignID, rf.Rows, rf.LastRow = r.opts.CampaignID, sum.Rows, r.room.lastRow
	rf.Tasks = r.enqueued.Load() + r.already.Load()
	rf.Waiting = max(0, r.room.owed.Load()-rf.Tasks)
	return rf
}

// countRows counts the data rows of a CSV that can be read twice (an
// io.ReadSeeker that seeks: a file, not a pipe) and puts it back where it
// was. It counts line breaks outside quoted fields, as the reader splits
// records; a blank line counts as a row, so the count is an upper bound.
// Reading the file once more costs far less than enqueueing it.
func countRows(csv io.Reader, delim rune) (rows int64, counted bool, err error) {
	rs, ok := csv.(io.ReadSeeker)
	if !ok {
		return 0, false, nil
	}
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, false, nil // a pipe or a terminal
	}
	lc := lineCounter{delim: byte(delim), fieldStart: true}
	if delim == 0 || delim > 127 {
		lc.delim = ','
	}
	buf := make([]byte, 256<<10)
	first := true
	for {
		n, rerr := rs.Read(buf)
		if first && n >= 2 && (buf[0] == 0xFF && buf[1] == 0xFE || buf[0] == 0xFE && buf[1] == 0xFF) {
			lc.plain = true // UTF-16: quotes are two bytes; every line break counts
		}
		first = first && n == 0
		lc.count(buf[:n])
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, false, rerr
		}
	}
	if _, err := rs.Seek(start, io.SeekStart); err != nil {
		return 0, false, err
	}
	return max(0, lc.records()-1), true, nil // the header is not a row
}

// lineCounter counts the records of CSV text: line breaks outside quoted
// fields (a field is quoted when it starts with '"'; "" inside it is a
// quote), plus a last line without one.
type lineCounter struct {
	delim      byte
	plain      bool // count every line break
	lines      int64
	fieldStart bool // at the start of a field
	quoted     bool // inside a quoted field
	closed     bool // just after the '"' that may end a quoted field
	last       byte
}

func (lc *lineCounter) count(b []byte) {
	if len(b) == 0 {
		return
	}
	lc.last = b[len(b)-1]
	if lc.plain || (!lc.quoted && !lc.closed && bytes.IndexByte(b, '"') < 0) {
		lc.lines += int64(bytes.Count(b, []byte{'\n'}))
		lc.fieldStart = lc.last == '\n' || lc.last == lc.delim
		return
	}
	for _, c := range b {
		switch {
		case lc.quoted:
			lc.quoted = c != '"'
			lc.closed = c == '"'
		case lc.closed && c == '"': // "" inside a quoted field
			lc.quoted, lc.closed = true, false
		default:
			lc.closed = false
			switch {
			case c == '\n':
				lc.lines++
				lc.fieldStart = true
			case c == lc.delim:
				lc.fieldStart = true
			case c == '"' && lc.fieldStart:
				lc.quoted, lc.fieldStart = true, false
			default:
				lc.fieldStart = false
			}
		}
	}
}

func (lc *lineCounter) records() int64 {
	if lc.last != 0 && lc.last != '\n' {
		return lc.lines + 1
	}
	return lc.lines
}
