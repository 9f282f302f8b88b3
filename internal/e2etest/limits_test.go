package e2etest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueuecli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
)

// Limits that refuse the whole upload fail at startup, name the flag, and
// leave no campaign behind.
func TestEnqueueFileLimits(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	dir := t.TempDir()
	csvData := "phone,first_name\n" + strings.Repeat("+33612345678,Ann\n", 10)
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte(csvData), 0o600)
	fifo := filepath.Join(dir, "pipe.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		csv     string
		args    []string
		wantErr string
	}{
		{"file over --max-bytes", good, []string{"--max-bytes", "100"}, "--csv: good.csv is 187B, larger than --max-bytes 100B; split it or raise --max-bytes"},
		{"pipe over --max-bytes", fifo, []string{"--max-bytes", "100"}, "recipients: line 6: file is too large: the file is larger than 100 bytes (--max-bytes)"},
		{"header over --max-columns", good, []string{"--max-columns", "1"}, "too many columns: the header has more than 1 columns"},
		{"zero --max-bytes", good, []string{"--max-bytes", "0"}, "--max-bytes must be at least 1"},
		{"unreadable --max-bytes", good, []string{"--max-bytes", "2XB"}, `--max-bytes: want a size such as 1048576, 64KiB, 1MiB or 2GiB, got "2XB"`},
		{"field over row", good, []string{"--max-field-bytes", "2MiB"}, "--max-field-bytes (2MiB) must not exceed --max-row-bytes (1MiB)"},
		{"zero --max-row-bytes", good, []string{"--max-row-bytes", "0"}, "--max-row-bytes must be at least 1"},
		{"zero --max-columns", good, []string{"--max-columns", "0"}, "--max-columns must be at least 1"},
		{"zero --max-message-chars", good, []string{"--max-message-chars", "0"}, "--max-message-chars must be at least 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.csv == fifo {
				go func() {
					f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
					if err != nil {
						return
					}
					defer f.Close()
					f.WriteString(csvData)
				}()
			}
			id := "limits"
			if tc.csv == fifo {
				id = "limits-pipe"
			}
			var out, errOut bytes.Buffer
			args := append([]string{"--campaign", id, "--csv", tc.csv, "--text", "Hi {{.first_name}}"}, tc.args...)
			err := enqueuecli.Run(context.Background(), args, s.getenv, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(errOut.String(), "run the same command again") {
				t.Fatalf("stderr suggests a re-run would finish: %s", errOut.String())
			}
		})
	}
	// Every case but the pipe failed before touching Redis: a pipe has no
	// size to check up front, so its upload started and stopped at the limit.
	ids, err := campaign.NewStore(s.redis.Client).IDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != "limits-pipe" {
		t.Fatalf("got campaigns %v, want only limits-pipe", ids)
	}
}

// Row limits reject single rows, with the row number and reason in the
// rejects file.
func TestEnqueueRowLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	os.WriteFile(in, []byte("phone,first_name\n+33612345678,Ann\n+33612345679,Bartholomew\n+33612345670,Christabellaa\n"), 0o600)
	rejects := filepath.Join(dir, "rejects.csv")
	var out, errOut bytes.Buffer
	err := enqueuecli.Run(context.Background(), []string{"--campaign", "rowlimits", "--csv", in, "--dry-run", "--rejects", rejects,
		"--text", "Hi {{.first_name}}", "--max-field-bytes", "12", "--max-message-chars", "13"}, func(string) string { return "" }, &out, &errOut)
	if err != nil {
		t.Fatalf("enqueue: %v\n%s", err, errOut.String())
	}
	got, _ := os.ReadFile(rejects)
	want := "row,column,reason\n" +
		"3,,\"message is 14 characters long, more than 13 (--max-message-chars)\"\n" +
		"4,first_name,value is longer than 12 bytes (--max-field-bytes)\n"
	if string(got) != want {
		t.Fatalf("got rejects\n%s\nwant\n%s", got, want)
	}
}
