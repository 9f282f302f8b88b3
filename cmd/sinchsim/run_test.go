package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/logbuf"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

func noEnv(string) string { return "" }

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestHelpListsEveryFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, noEnv, &stdout, &stderr); err != nil {
		t.Fatalf("--help: got %v, want nil", err)
	}
	// Every Config field has a flag, plus --addr and --auth-required
	// (Config.AuthDisabled inverted). Clock is for tests only.
	want := []string{"addr", "project-id", "app-id", "apps", "outbound-queues", "outbound-queue-size", "key-id", "key-secret", "auth-required", "token-ttl",
		"rate-limit", "rate-burst", "outbound-rate", "processing-mode", "dispatch-retention-days",
		"max-stored-messages", "latency", "fault-500", "fault-503", "fault-reset", "fault-lost", "seed",
		"reply-suffix", "reply-text", "fail-suffix", "fail-first-channel", "reject-suffix", "callback-url", "webhook-secret",
		"override-callback-secret", "persist-message-status", "callback-delay",
		"callback-workers", "callback-queue-size", "callback-timeout"}
	help := stdout.String()
	for _, name := range want {
		if !strings.Contains(help, "-"+name+" ") && !strings.Contains(help, "-"+name+"\n") {
			t.Errorf("--help does not document --%s", name)
		}
	}
	o := newFlags()
	n := 0
	o.fs.VisitAll(func(*flag.Flag) { n++ })
	if n != len(want) {
		t.Errorf("got %d flags, the test knows %d: document the new one here", n, len(want))
	}
	if !strings.Contains(help, "SINCHSIM_") {
		t.Error("--help does not mention the SINCHSIM_ variables")
	}
	if stderr.Len() != 0 {
		t.Errorf("--help wrote to stderr: %q", stderr.String())
	}
}

func TestFlagValidation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"negative probability", []string{"--fault-500", "-0.1"}, nil, "--fault-500 must be between 0 and 1"},
		{"probability above 1", []string{"--fault-lost", "1.5"}, nil, "--fault-lost must be between 0 and 1"},
		{"probabilities above 1 together", []string{"--fault-503", "0.6", "--fault-reset", "0.6"}, nil, "--fault-500 plus the other fault probabilities must not exceed 1"},
		{"env probability", nil, map[string]string{"SINCHSIM_FAULT_503": "2"}, "--fault-503 must be between 0 and 1"},
		{"env not a number", nil, map[string]string{"SINCHSIM_LATENCY": "soon"}, "SINCHSIM_LATENCY (--latency) has an invalid value"},
		{"not a number", []string{"--seed", "x"}, nil, "seed"},
		{"unknown flag", []string{"--fault-600", "1"}, nil, "fault-600"},
		{"positional argument", []string{"serve"}, nil, `unexpected argument "serve"`},
		{"zero token ttl", []string{"--token-ttl", "0"}, nil, "--token-ttl must be positive"},
		{"short token ttl", []string{"--token-ttl", "10ms"}, nil, "--token-ttl must be at least 1s"},
		{"zero rate limit", []string{"--rate-limit", "0"}, nil, "--rate-limit must not be 0"},
		{"negative burst", []string{"--rate-burst", "-1"}, nil, "--rate-burst must not be negative"},
		{"negative retention", []string{"--dispatch-retention-days", "-1"}, nil, "--dispatch-retention-days must not be negative"},
		{"processing mode", []string{"--processing-mode", "BATCH"}, nil, "--processing-mode must be CONVERSATION or DISPATCH"},
		{"empty key secret", []string{"--key-secret", ""}, nil, "--key-secret must not be empty"},
		{"negative latency", []string{"--latency", "-1s"}, nil, "--latency must not be negative"},
		{"relative callback url", []string{"--callback-url", "/hook"}, nil, "--callback-url must be an absolute http(s) URL"},
		{"zero workers", []string{"--callback-workers", "0"}, nil, "--callback-workers must be positive"},
		{"zero outbound rate", []string{"--outbound-rate", "0"}, nil, "--outbound-rate must be positive"},
		{"bad address", []string{"--addr", "256.0.0.1:http-alt-x"}, nil, "--addr"},
		{"bad fail-first-channel", []string{"--fail-first-channel", "+4670("}, nil, "--fail-first-channel is not a valid regular expression"},
		{"zero queue size", []string{"--outbound-queue-size", "0"}, nil, "--outbound-queue-size must be positive"},
		{"apps syntax", []string{"--apps", "a1=20,a2=fast"}, nil, `--apps: entry 2 ("a2=fast"): rate must be`},
		{"apps channel", []string{"--apps", "a1:SMS+PIGEON"}, nil, `--apps: entry 1 ("a1:SMS+PIGEON"): unknown channel "PIGEON"`},
		{"apps twice", []string{"--apps", "a1,a1"}, nil, `--apps app "a1": is listed twice`},
		{"apps and app-id", []string{"--apps", "a1", "--app-id", "a2"}, nil, "--app-id and --apps are exclusive"},
		{"env apps and app-id", nil, map[string]string{"SINCHSIM_APPS": "a1", "SINCHSIM_APP_ID": "a2"}, "--app-id and --apps are exclusive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, envOf(tt.env), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

var readyURL = regexp.MustCompile(`msg="sinchsim ready" url=(http://\S+)`)

// start runs the command in the background and returns its URL once the
// ready line is logged.
func start(t *testing.T, args []string, env map[string]string) (baseURL string, logs *logbuf.Buffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &logbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), envOf(env), io.Discard, logs)
	}()
	if !testwait.Until(10*time.Second, func() bool {
		if m := readyURL.FindStringSubmatch(logs.String()); m != nil {
			baseURL = m[1]
			return true
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run ended before ready: %v; logs: %s", err, logs)
		default:
		}
		return false
	}) {
		cancel()
		t.Fatalf("not ready within 10s; logs: %s", logs)
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("run did not return within 10s of cancellation")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return baseURL, logs, stop
}

func TestServeAndShutdown(t *testing.T) {
	const secret = "user-provided-secret-123"
	const webhookSecret = "user-webhook-secret-456"
	const overrideSecret = "user-override-secret-789"
	base, logs, stop := start(t, []string{"--key-id", "k1", "--fault-500", "0"},
		map[string]string{"SINCHSIM_KEY_SECRET": secret, "SINCHSIM_WEBHOOK_SECRET": webhookSecret,
			"SINCHSIM_OVERRIDE_CALLBACK_SECRET": overrideSecret,
			"SINCHSIM_PROJECT_ID":               "p1", "SINCHSIM_KEY_ID": "ignored: the flag wins"})

	// The secret from the environment is the one accepted.
	form := url.Values{"grant_type": {"client_credentials"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("k1", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("token with the env secret: got status %d, want 200", resp.StatusCode)
	}
	// And the project from the environment.
	req, _ = http.NewRequest(http.MethodGet, base+"/v1/projects/p1/apps/"+sinchsim.DefaultAppID, nil)
	req.SetBasicAuth("k1", secret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("get app in project p1: got status %d, want 200", resp.StatusCode)
	}
	resp, err = http.Get(base + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	var st sinchsim.Stats
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.TokenRequests != 1 {
		t.Fatalf("stats: got %+v (%v), want 1 token request", st, err)
	}

	if err := stop(); err != nil {
		t.Fatalf("run after cancel: got %v, want nil", err)
	}
	out := logs.String()
	for _, s := range []string{secret, webhookSecret, overrideSecret} {
		if strings.Contains(out, s) {
			t.Errorf("logs contain a secret: %s", out)
		}
	}
	lines := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "sinchsim ready") {
			lines++
		}
	}
	if lines != 1 {
		t.Errorf("got %d ready lines, want 1: %s", lines, out)
	}
}

func TestRetentionZeroFlag(t *testing.T) {
	o := newFlags()
	if err := o.fs.Parse([]string{"--dispatch-retention-days", "0", "--auth-required=false"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := o.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DispatchRetentionDays != sinchsim.RetentionNone || !cfg.AuthDisabled {
		t.Errorf("got retention %d, auth disabled %v; want RetentionNone, true", cfg.DispatchRetentionDays, cfg.AuthDisabled)
	}
}

// --apps serves each app with its rate and channels; the first is the
// default, and --app-id's default does not add one.
func TestAppsFlag(t *testing.T) {
	base, logs, _ := start(t, []string{"--auth-required=false", "--apps", "a1=20,a2=200:SMS+RCS"}, nil)
	get := func(path string) (int, map[string]any) {
		resp, err := http.Get(base + "/v1/projects/" + sinchsim.DefaultProjectID + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, a2 := get("/apps/a2")
	if code != 200 || a2["rate_limits"].(map[string]any)["outbound"] != 200.0 || len(a2["channel_credentials"].([]any)) != 2 {
		t.Errorf("GET app a2: got %d %v, want rate 200 and two channels", code, a2)
	}
	if code, _ := get("/apps/" + sinchsim.DefaultAppID); code != 404 {
		t.Errorf("GET app %s: got %d, want 404 (not listed in --apps)", sinchsim.DefaultAppID, code)
	}
	if code, list := get("/apps"); code != 200 || len(list["apps"].([]any)) != 2 {
		t.Errorf("GET apps: got %d %v, want both apps", code, list)
	}
	if !strings.Contains(logs.String(), "app_ids=a1,a2") {
		t.Errorf("ready line does not list the apps: %s", logs)
	}
}
