package enqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/keyspace"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest/redisproc"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// roomCSV has n distinct recipients whose text carries a note of noteBytes.
func roomCSV(n, noteBytes int) []byte {
	var b bytes.Buffer
	b.WriteString("phone,note\n")
	note := strings.Repeat("n", noteBytes)
	for i := range n {
		fmt.Fprintf(&b, "+336%08d,%s\n", i, note)
	}
	return b.Bytes()
}

func roomRun(t *testing.T, s *procs.Redis, id string, csv io.Reader) (Summary, error) {
	t.Helper()
	client := asynq.NewClient(s.AsynqOpt())
	defer client.Close()
	src, err := NewTextSource("Hi {{.note}}")
	if err != nil {
		t.Fatal(err)
	}
	return New(campaign.NewStore(s.Client), client).Run(context.Background(), Options{CampaignID: id, CSV: csv, Source: src})
}

// tasks counts the recipients of campaign id's chunks in its feed.
func tasks(t *testing.T, s *procs.Redis, id string) int {
	t.Helper()
	entries, err := jobs.CampaignFeed(context.Background(), s.Client, campaign.Definition{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		k, _ := jobs.TaskRecipients(id, e.TaskID)
		n += int(k)
	}
	return n
}

func TestRunRefusesACampaignThatDoesNotFitBeforeWritingAnything(t *testing.T) {
	t.Parallel()
	s := redisproc.Start(t, "--maxmemory", "4mb")
	ctx := context.Background()
	before, err := s.Client.Info(ctx, "keyspace").Result()
	if err != nil {
		t.Fatal(err)
	}
	rows := int(4<<20/UploadBytesPerRecipient) + 1 // more than all of maxmemory holds
	_, err = roomRun(t, s, "too-big", bytes.NewReader(roomCSV(rows, 10)))
	var nr *NoRoomError
	if !errors.As(err, &nr) || !errors.Is(err, ErrRedisFull) {
		t.Fatalf("Run: got %v, want a NoRoomError", err)
	}
	if nr.Rows != int64(rows) || nr.Estimate != int64(rows)*UploadBytesPerRecipient || nr.Memory.Max != 4<<20 {
		t.Errorf("refusal figures: %+v", nr)
	}
	for _, want := range []string{strconv.Itoa(rows) + " rows", strconv.Itoa(UploadBytesPerRecipient) + " bytes per pending recipient",
		"free", "maxmemory 4.0 MiB", "used_memory", "nothing was written"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not say %q", err, want)
		}
	}
	// Nothing was written: not the campaign, not a recipient, not a task.
	if n, err := s.Client.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("keys after the refusal: %d (%v), want 0", n, err)
	}
	if after, _ := s.Client.Info(ctx, "keyspace").Result(); after != before {
		t.Errorf("keyspace changed: %q -> %q", before, after)
	}

	// A campaign that fits is accepted.
	sum, err := roomRun(t, s, "fits", bytes.NewReader(roomCSV(500, 10)))
	if err != nil || sum.Enqueued != 500 {
		t.Fatalf("Run of a campaign that fits: %+v, %v", sum, err)
	}
}

func TestRunStopsCleanlyOnRedisOOMAndAReRunCompletesIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := redisproc.Start(t, "--maxmemory", "20mb")
	// About 1.2 KB per recipient, four times what the estimate counts: the
	// upload passes the check and then fills Redis on the way.
	const n = 40000
	data := roomCSV(n, 1000)
	_, err := roomRun(t, s, "oom", bytes.NewReader(data))
	var rf *RedisFullError
	if !errors.As(err, &rf) || rf.Err == nil {
		t.Fatalf("Run: got %v, want a RedisFullError from Redis's OOM", err)
	}
	if rf.Rows == 0 || rf.Tasks == 0 || rf.LastRow == 0 || rf.Tasks >= n {
		t.Fatalf("how far it got: %+v", rf)
	}
	for _, want := range []string{"out of memory", "OOM command not allowed", fmt.Sprintf("after reading %d rows", rf.Rows),
		fmt.Sprintf("row %d", rf.LastRow), fmt.Sprintf("%d recipients have their send task", rf.Tasks), "same campaign ID"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	store := campaign.NewStore(s.Client)
	c, err := store.Counters(ctx, "oom")
	if err != nil {
		t.Fatal(err)
	}
	// A pending recipient is its record, with no status entry.
	registered, err := s.Client.HLen(ctx, keyspace.ForCampaign("oom").Records).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Consistent: the pending counter is the registered recipients, and
	// every task written belongs to one of them. Some were registered
	// without their task: the re-run must give them one.
	queued := tasks(t, s, "oom")
	if c.Pending == 0 || int64(queued) >= c.Pending || registered != c.Pending {
		t.Fatalf("after the OOM: %d pending (%d records), %d tasks; want some registered without a task",
			c.Pending, registered, queued)
	}
	if int64(queued) != rf.Tasks || rf.Waiting < c.Pending-int64(queued) {
		t.Errorf("the error says %d tasks and up to %d waiting; Redis has %d tasks of %d registered", rf.Tasks, rf.Waiting, queued, c.Pending)
	}
	t.Logf("stopped: %v (%d registered, %d tasks)", rf, c.Pending, queued)

	if err := s.Client.ConfigSet(ctx, "maxmemory", "128mb").Err(); err != nil {
		t.Fatal(err)
	}
	sum, err := roomRun(t, s, "oom", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("re-run: %v", err)
	}
	if sum.Enqueued+sum.AlreadyEnqueued != n || sum.Duplicates != 0 {
		t.Fatalf("re-run: %+v, want %d recipients enqueued or already enqueued", sum, n)
	}
	// Every recipient once: one status, one task each.
	if c, _ := store.Counters(ctx, "oom"); c.Pending != n {
		t.Errorf("pending after the re-run: %d, want %d", c.Pending, n)
	}
	if q := tasks(t, s, "oom"); q != n {
		t.Errorf("tasks after the re-run: %d, want %d", q, n)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		key := campaign.RecipientKey(sinch.ChannelSMS, fmt.Sprintf("+336%08d", i))
		if st, err := store.Status(ctx, "oom", key); err != nil || st != campaign.StatusPending {
			t.Errorf("recipient %d: %s, %v", i, st, err)
		}
	}
}

// onlyReader hides Seek: a stream whose rows cannot be counted first.
type onlyReader struct{ io.Reader }

func TestRunWatchesTheRoomOfAStreamAndStopsBeforeRedisRefuses(t *testing.T) {
	t.Parallel()
	s := redisproc.Start(t, "--maxmemory", "16mb")
	rows := 2 * (16 << 20) / UploadBytesPerRecipient // twice what fits
	_, err := roomRun(t, s, "stream", onlyReader{bytes.NewReader(roomCSV(rows, 10))})
	var rf *RedisFullError
	if !errors.As(err, &rf) {
		t.Fatalf("Run: got %v, want a RedisFullError", err)
	}
	if rf.Err != nil {
		t.Fatalf("Redis refused a write (%v): the room check should have stopped the upload first", rf.Err)
	}
	if !strings.Contains(err.Error(), "nearly full") || rf.Tasks == 0 {
		t.Errorf("error %q, %+v", err, rf)
	}
	if n := tasks(t, s, "stream"); int64(n) != rf.Tasks {
		t.Errorf("tasks: %d, error says %d", n, rf.Tasks)
	}
}

func TestCountRowsFollowsQuotedLineBreaks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		csv   string
		delim rune
		want  int64
	}{
		{"plain", "phone,name\n+1,a\n+2,b\n", 0, 2},
		{"no last line break", "phone,name\n+1,a\n+2,b", 0, 2},
		{"header only", "phone,name\n", 0, 0},
		{"empty", "", 0, 0},
		{"quoted line break", "phone,note\n+1,\"two\nlines\"\n+2,x\n", 0, 2},
		{"doubled quote in a quoted field", "phone,note\n+1,\"say \"\"hi\nthere\"\"\"\n+2,x\n", 0, 2},
		{"bare quote in an unquoted field", "phone,note\n+1,5\" screen\n+2,x\n+3,y\n", 0, 3},
		{"quote after a semicolon", "phone;note\n+1;\"a\nb\"\n", ';', 1},
		{"crlf", "phone,name\r\n+1,a\r\n+2,\"b\r\nc\"\r\n", 0, 2},
		{"utf-16 counts every line break", "\xff\xfep\x00\n\x00+\x00\n\x00", 0, 1},
	} {
		for _, size := range []int{1, 3, 1 << 20} { // chunks split anywhere
			r := &chunkReader{data: []byte(tc.csv), size: size}
			got, counted, err := countRows(r, tc.delim)
			if err != nil || !counted || got != tc.want {
				t.Errorf("%s (reads of %d): got %d, %v, %v; want %d", tc.name, size, got, counted, err, tc.want)
			}
			if r.off != 0 {
				t.Errorf("%s: not put back (offset %d)", tc.name, r.off)
			}
		}
	}
	if _, counted, _ := countRows(onlyReader{strings.NewReader("a\n")}, 0); counted {
		t.Error("a stream was counted")
	}
}

// chunkReader is a ReadSeeker that reads at most size bytes at a time.
type chunkReader struct {
	data []byte
	size int
	off  int64
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.off >= int64(len(c.data)) {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.size)], c.data[c.off:])
	c.off += int64(n)
	return n, nil
}

func (c *chunkReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		c.off = off
	case io.SeekCurrent:
		c.off += off
	}
	return c.off, nil
}
