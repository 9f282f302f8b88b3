package e2etest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/cli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/democli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/enqueuecli"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/workercli"
)

const secret = "s3cr3t-key-value-never-printed"

func TestEnqueueFatalInputsFailClearlyAndLeaveNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	good := write("good.csv", "phone,first_name\n+33612345678,Ann\n")
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"missing file", []string{"--csv", filepath.Join(dir, "nope.csv"), "--text", "Hi"}, nil, "no such file"},
		{"empty file", []string{"--csv", write("empty.csv", ""), "--text", "Hi"}, nil, "empty"},
		{"header only is fine but a blank header is not", []string{"--csv", write("blank.csv", "\n\n"), "--text", "Hi"}, nil, "header"},
		{"no phone column", []string{"--csv", write("nophone.csv", "name,email\nAnn,a@b.c\n"), "--text", "Hi"}, nil, "phone"},
		{"unparsable template", []string{"--csv", good, "--text", "Hi {{.first_name"}, nil, "--text"},
		{"template uses a missing column", []string{"--csv", good, "--text", "Hi {{.surname}}"}, nil, "surname"},
		{"no message source", []string{"--csv", good}, nil, "exactly one message source"},
		{"two message sources", []string{"--csv", good, "--text", "a", "--media-url", "https://x.example/a.png"}, nil, "exactly one message source"},
		{"bad channel", []string{"--csv", good, "--text", "Hi", "--channel", "PIGEON"}, nil, "--channel"},
		{"bad priority", []string{"--csv", good, "--text", "Hi", "--priority", "urgent"}, nil, "--priority"},
		{"ttl too short", []string{"--csv", good, "--text", "Hi", "--ttl", "2s"}, nil, "--ttl"},
		{"at and in", []string{"--csv", good, "--text", "Hi", "--at", "2030-01-01T00:00:00Z", "--in", "1h"}, nil, "--at or --in"},
		{"bad at", []string{"--csv", good, "--text", "Hi", "--at", "tomorrow"}, nil, "--at"},
		{"bad delimiter", []string{"--csv", good, "--text", "Hi", "--delimiter", ";;"}, nil, "--delimiter"},
		{"bad media url", []string{"--csv", good, "--media-url", "ftp://x"}, nil, "--media-url"},
		{"redis unreachable", []string{"--csv", good, "--text", "Hi"}, map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"}, "redis unreachable"},
		{"redis url invalid", []string{"--csv", good, "--text", "Hi"}, map[string]string{"REDIS_URL": "http://:" + secret + "@x"}, "REDIS_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := s.getenv
			if tc.env != nil {
				getenv = func(k string) string {
					if v, ok := tc.env[k]; ok {
						return v
					}
					return s.env[k]
				}
			}
			var out, errOut bytes.Buffer
			err := enqueuecli.Run(context.Background(), append([]string{"--campaign", "fatal"}, tc.args...), getenv, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one mentioning %q", err, tc.wantErr)
			}
			if code := cli.ExitCode("enqueue", err, &errOut); code != 1 {
				t.Fatalf("got exit code %d, want 1", code)
			}
			if strings.Contains(err.Error()+out.String()+errOut.String(), secret) {
				t.Fatal("a secret was echoed")
			}
		})
	}
	// Nothing half-done: no campaign was created by any of them.
	if ids, _ := campaign.NewStore(s.redis.Client).IDs(context.Background()); len(ids) != 0 {
		t.Fatalf("got campaigns %v after fatal errors, want none", ids)
	}
}

func TestEnqueueDryRunNeedsNoRedisAndEnqueuesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	path := filepath.Join(t.TempDir(), "r.csv")
	os.WriteFile(path, []byte("phone,first_name\n+33612345678,Ann\n+33612345678,Ann\nbad,Bob\n"), 0o600)
	var out bytes.Buffer
	noRedis := func(k string) string {
		if k == "REDIS_URL" {
			return "redis://127.0.0.1:1/0"
		}
		return s.env[k]
	}
	err := enqueuecli.Run(context.Background(), []string{"--campaign", "dry", "--csv", path, "--text", "Hi {{.first_name}}", "--dry-run", "--json"}, noRedis, &out, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != `{"campaign_id":"dry","rows":3,"enqueued":1,"already_enqueued":0,"duplicates":1,"rejected":1,"suppressed":0,"dry_run":true,"first_rejects":[{"row":4,"column":"phone","reason":"not a phone number"}],"sms":{"messages":1,"gsm7":1,"ucs2":0,"segments":1,"max_segments":1,"ucs2_chars":[]},"ttl_estimate":{"recipients":1,"queued_ahead":0,"rate":1000,"send_seconds":0.001,"ttl_seconds":86400}}` {
		t.Fatalf("got %s", got)
	}
}

func TestWorkerSettingsFailAtStartupNamingTheSetting(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	tests := []struct {
		name    string
		args    []string
		unset   string
		env     map[string]string
		wantErr string
		usage   bool
	}{
		{"missing key secret", nil, "SINCH_KEY_SECRET", nil, "SINCH_KEY_SECRET", false},
		{"missing project", nil, "SINCH_PROJECT_ID", nil, "SINCH_PROJECT_ID", false},
		{"bad region", nil, "", map[string]string{"SINCH_REGION": "ap", "SINCH_BASE_URL": ""}, "Region", false},
		{"bad auth mode", nil, "", map[string]string{"SINCH_AUTH": "token"}, "Auth", false},
		{"bad queues", []string{"--queues", "critical=high"}, "", nil, "--queues", false},
		{"max retry zero", []string{"--max-retry", "0"}, "", nil, "--max-retry", false},
		{"negative rate", []string{"--rate", "-5"}, "", nil, "--rate", false},
		{"shutdown shorter than http timeout", []string{"--shutdown-timeout", "5s"}, "", nil, "--shutdown-timeout", false},
		{"bad log level", []string{"--log-level", "loud"}, "", nil, "--log-level", false},
		{"unknown flag", []string{"--turbo"}, "", nil, "turbo", true},
		{"redis down", nil, "", map[string]string{"REDIS_URL": "redis://:" + secret + "@127.0.0.1:1/0"}, "redis unreachable", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range s.env {
				env[k] = v
			}
			env["SINCH_KEY_SECRET"] = secret
			delete(env, tc.unset)
			for k, v := range tc.env {
				env[k] = v
			}
			var out, errOut bytes.Buffer
			err := workercli.Run(context.Background(), tc.args, func(k string) string { return env[k] }, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one naming %q", err, tc.wantErr)
			}
			if got := errors.Is(err, cli.ErrUsage); got != tc.usage {
				t.Fatalf("usage error: got %v, want %v", got, tc.usage)
			}
			if strings.Contains(err.Error()+out.String()+errOut.String(), secret) {
				t.Fatal("the secret was echoed")
			}
		})
	}
}

func TestHelpShowsNoSecretsAndDoubleDashFlagsWork(t *testing.T) {
	t.Parallel()
	env := func(k string) string {
		if k == "SINCH_KEY_SECRET" {
			return secret
		}
		return ""
	}
	for name, cmd := range map[string]cli.Command{"enqueue": enqueuecli.Run, "worker": workercli.Run, "demo": democli.Run} {
		var out, errOut bytes.Buffer
		err := cmd(context.Background(), []string{"--help"}, env, &out, &errOut)
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s --help: got %v, want flag.ErrHelp", name, err)
		}
		help := out.String() + errOut.String()
		if strings.Contains(help, secret) {
			t.Fatalf("%s --help printed the secret", name)
		}
		if name != "demo" && (!strings.Contains(help, "SINCH_KEY_SECRET") || !strings.Contains(help, "-redis-url")) {
			t.Fatalf("%s --help does not document the shared settings:\n%s", name, help)
		}
	}
}

func TestWorkerDefaultRateComesFromTheApp(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{OutboundRate: 37})
	path := filepath.Join(t.TempDir(), "r.csv")
	os.WriteFile(path, []byte("phone\n+33612345678\n"), 0o600)
	s.enqueue("--campaign", "rate", "--csv", path, "--text", "Hi")
	_, logs := s.runWorkerLogs("rate", 30*time.Second, "--log-format", "json")
	if !strings.Contains(logs, `"msg":"app budget","app":"sim-app","rate":37,`) || !strings.Contains(logs, `"from":"rate_limits.outbound"`) {
		t.Fatalf("worker did not log the app's outbound rate 37:\n%s", logs)
	}
	// Without an app rate the worker says it uses the default.
	s2 := newStack(t, sinchsim.Config{})
	s2.env["SINCH_APP_ID"] = "no-such-app"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var out logbuf.Buffer
	workercli.Run(ctx, []string{"--log-format", "json"}, s2.getenv, io.Discard, &out)
	if !strings.Contains(out.String(), `"level":"WARN","msg":"app budget","app":"no-such-app","rate":20,`) {
		t.Fatalf("worker did not say it fell back to 20/s:\n%s", out.String())
	}
}

func TestDefaultBurstCoversTheJitterReserveAtEveryRate(t *testing.T) {
	t.Parallel()
	s := newStack(t, sinchsim.Config{})
	for _, rate := range []string{"1", "20", "60", "99", "100", "333", "800", "5000"} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		err := workercli.Run(ctx, []string{"--rate", rate}, s.getenv, io.Discard, io.Discard)
		cancel()
		if err != nil {
			t.Errorf("--rate %s with the default burst: got %v, want it to start", rate, err)
		}
	}
	err := workercli.Run(context.Background(), []string{"--rate", "100", "--burst", "3"}, s.getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--burst must be at least 5") {
		t.Fatalf("got %v, want --burst must be at least 5", err)
	}
}
