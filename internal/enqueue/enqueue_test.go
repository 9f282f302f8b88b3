package enqueue

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/jobs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/recipients"
	"github.com/sinch-dispatch/sinch-dispatch/internal/redistest"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sms"
)

// mixedCSV has n data rows (lines 2..n+1): every 7th row a bad number, every
// 11th a repeat of the row 5 lines earlier, every 13th an empty name (the
// template rejects it), the rest distinct valid recipients. It returns the
// CSV and what reading it row by row must give: rejected lines in order,
// and the line of the first occurrence of every accepted recipient.
func mixedCSV(n int) (data []byte, rejected []int, first map[string]int, dups int) {
	var b strings.Builder
	b.WriteString("phone,name\n")
	phones := make([]string, n+2)
	first = map[string]int{}
	for line := 2; line <= n+1; line++ {
		phone, name := fmt.Sprintf("+336%08d", line), "N"+strconv.Itoa(line)
		switch {
		case line%7 == 0:
			phone = "12ab"
		case line%11 == 0 && line > 6:
			phone = phones[line-5]
		case line%13 == 0:
			name = ""
		}
		phones[line] = phone
		fmt.Fprintf(&b, "%s,%s\n", phone, name)
		switch {
		case phone == "12ab" || name == "":
			rejected = append(rejected, line)
		case first[phone] != 0:
			dups++
		default:
			first[phone] = line
		}
	}
	return []byte(b.String()), rejected, first, dups
}

func TestRunKeepsRowOrderRejectsAndFirstOccurrenceAcrossChunksAndBatches(t *testing.T) {
	t.Parallel()
	r := redistest.New(t)
	client := asynq.NewClient(r.AsynqOpt())
	t.Cleanup(func() { client.Close() })
	store := campaign.NewStore(r.Client)
	const n = 2000 // 32 chunks, 286 batches of 7
	data, wantRejected, first, wantDups := mixedCSV(n)
	src, err := NewTextSource("{{.name}}")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, dry := range []bool{true, false} {
		t.Run(fmt.Sprintf("dry run %v", dry), func(t *testing.T) {
			var rejects bytes.Buffer
			var progress []int64
			sum, err := New(store, client).Run(ctx, Options{
				CampaignID: "order", CSV: bytes.NewReader(data), Source: src, Rejects: &rejects,
				BatchSize: 7, Concurrency: 3, DryRun: dry, Progress: func(rows int64) { progress = append(progress, rows) },
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			// Every enqueued row is a one-segment GSM-7 SMS ("Hi N123").
			smsWant := &sms.Totals{}
			for range len(first) {
				smsWant.Add(sms.Count{Encoding: sms.GSM7, Segments: 1})
			}
			want := Summary{CampaignID: "order", Rows: n, Enqueued: int64(len(first)), Duplicates: int64(wantDups),
				Rejected: int64(len(wantRejected)), DryRun: dry, SMS: smsWant}
			firstRejects := sum.FirstRejects
			sum.FirstRejects = nil
			if !reflect.DeepEqual(sum, want) {
				t.Fatalf("summary: got %+v, want %+v", sum, want)
			}
			recs, err := csv.NewReader(&rejects).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			var gotRejected []int
			var wantFirst []RejectedRow
			for _, rec := range recs[1:] {
				line, _ := strconv.Atoi(rec[0])
				gotRejected = append(gotRejected, line)
				if len(wantFirst) < SummaryRejects {
					wantFirst = append(wantFirst, RejectedRow{Row: line, Column: rec[1], Reason: rec[2]})
				}
			}
			// The summary lists the file's first rejects, in the same order.
			if len(wantFirst) != SummaryRejects || !slices.Equal(firstRejects, wantFirst) {
				t.Fatalf("summary's first rejects: got %+v\nwant %+v", firstRejects, wantFirst)
			}
			if !slices.Equal(gotRejected, wantRejected) {
				t.Fatalf("rejected lines, in order: got %v\nwant %v", gotRejected, wantRejected)
			}
			if !slices.IsSorted(progress) || progress[len(progress)-1] != n {
				t.Errorf("progress: got %v, want rising to %d", progress, n)
			}
		})
	}
	// The first occurrence is the one registered and enqueued, in a chunk
	// of at most one batch.
	// They wait in the campaign's feed (jobs.PushFeed).
	entries, err := jobs.CampaignFeed(ctx, store.Redis(), campaign.Definition{ID: "order"})
	if err != nil {
		t.Fatal(err)
	}
	queued := map[string]jobs.SendPayload{}
	for _, e := range entries {
		c, err := jobs.DecodeChunk(e.Payload)
		if err != nil || len(c.Recipients) > 7 || e.TaskID != jobs.ChunkTaskID(c) || e.Queue != jobs.QueueDefault {
			t.Fatalf("feed entry %s (queue %s): %v, want a chunk of at most a batch", e.TaskID, e.Queue, err)
		}
		for i := range c.Recipients {
			p := c.Send(i)
			if _, dup := queued[p.Key]; dup {
				t.Fatalf("recipient of row %d queued twice", p.Row)
			}
			queued[p.Key] = p
		}
	}
	if len(queued) != len(first) {
		t.Fatalf("%d recipients queued, want %d", len(queued), len(first))
	}
	for phone, line := range first {
		key := campaign.RecipientKey(sinch.ChannelSMS, phone)
		rec, err := store.Record(ctx, "order", key)
		if err != nil || rec.Row != line {
			t.Fatalf("record of %s: got row %d (%v), want %d", phone, rec.Row, err, line)
		}
		p := queued[key]
		if p.Row != line || p.Message.TextMessage == nil || p.Message.TextMessage.Text != "N"+strconv.Itoa(line) || p.Identity != phone {
			t.Fatalf("queued send of %s: got row %d text %+v, want row %d", phone, p.Row, p.Message.TextMessage, line)
		}
	}
	if c, _ := store.Counters(ctx, "order"); c.Pending != int64(len(first)) {
		t.Errorf("pending counter: got %d, want %d", c.Pending, len(first))
	}
	// Running the same upload again queues nothing: it builds the same
	// chunks, which asynq already holds.
	sum, err := New(store, client).Run(ctx, Options{CampaignID: "order", CSV: bytes.NewReader(data), Source: src, BatchSize: 7, Concurrency: 3})
	if err != nil || sum.Enqueued != 0 || sum.AlreadyEnqueued != int64(len(first)) {
		t.Fatalf("re-run: got %+v (%v), want nothing enqueued and %d already enqueued", sum, err, len(first))
	}
}

// failingSource fails (not a row error) on one line.
type failingSource struct {
	TextSource
	line int
}

func (s *failingSource) Build(row recipients.Row) (sinch.AppMessage, error) {
	if row.Line == s.line {
		return sinch.AppMessage{}, errors.New("source broke")
	}
	return s.TextSource.Build(row)
}

func TestRunStopsAtAFatalSourceErrorCountingRowsUpToIt(t *testing.T) {
	t.Parallel()
	data, _, _, _ := mixedCSV(500)
	tmpl, err := NewTextSource("Hi {{.name}}")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := New(nil, nil).Run(context.Background(), Options{
		CampaignID: "fatal", CSV: bytes.NewReader(data), Source: &failingSource{TextSource: *tmpl, line: 300}, DryRun: true,
	})
	if err == nil || !strings.Contains(err.Error(), "source broke") {
		t.Fatalf("Run: got %v, want the source's error", err)
	}
	if sum.Rows != 299 { // lines 2..300
		t.Errorf("rows: got %d, want 299", sum.Rows)
	}
}
