package securitytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sinch-dispatch/sinch-dispatch/internal/campaign"
	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch/sinchsim"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

// commands are the binaries the secrets test builds and runs. Adding a
// command is one line here (and its runs in the table below).
var commands = []string{"enqueue", "worker", "campaign", "demo", "sinchsim", "dashboard"}

// Known secret values. Each is distinctive, so finding it in output can only
// mean it leaked.
const (
	keyID          = "key-id-visible-R2d2"
	keySecret      = "keysecret-7Qm2Xv9LpA"
	badKeySecret   = "badsecret-3Jw8Tn5KzE"
	webhookSecret  = "whsecret-9Fz4Rk1MqB"
	overrideSecret = "ovsecret-3Pd8Wn6HtJ"
	dashboardPass  = "dashpass-5Nc7Hy2WdG"
	fileUserPass   = "filepass-3Sd8Kw1PzQ" // a DASHBOARD_USERS_FILE user's
	dashboardToken = "dashtoken-8Lp3Vb6QsX"
	redisPass      = "redispass-4Gt9Ds1KmY"
	badRedisPass   = "badredis-6Wq2Zx8PcR"

	// A guesser's wrong credentials must not be echoed either.
	wrongDashboardPass  = "wrongdash-2Hx5Kq8VnT"
	wrongDashboardToken = "wrongtok-7Rb4Mz1CwP"
	wrongFileUserPass   = "wrongfile-9Bq4Tc6XeM"
	badWebhookSecret    = "badwhsecret-1Yv6Ju3NfL"
)

// dashboardUser and fileUser are not secrets: the dashboard may log who
// acted.
const (
	dashboardUser = "operator"
	fileUser      = "marketer" // a viewer, in DASHBOARD_USERS_FILE
)

// writeUsersFile writes a DASHBOARD_USERS_FILE holding fileUser and
// returns its path and the bcrypt hash of fileUserPass it holds (not a
// secret as such, but the dashboard has no reason to print it either).
func writeUsersFile(t *testing.T, dir string) (path, hash string) {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(fileUserPass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "dashboard-users")
	if err := os.WriteFile(path, []byte(fileUser+":"+string(h)+":viewer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, string(h)
}

// TestSecretsNeverPrinted runs every binary with known secrets through
// success paths (a small campaign against the simulator, status, report,
// tracking, the demo, the dashboard's pages, API, /metrics and webhook)
// and failure paths (wrong Sinch key → 401, wrong Redis password, invalid
// flags and URLs, --help, the dashboard's refused logins, CSRF and
// signatures), and checks that no secret, no Basic credential in base64
// and no access token the simulator issued appears in anything they
// printed, wrote or answered over HTTP. The worker's and the dashboard's
// /metrics pages and the dashboard's log must also hold no phone number
// or message text of the campaign.
func TestSecretsNeverPrinted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every binary")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := procs.BuildForTest(t, commands...)
	outDir := t.TempDir()
	work := t.TempDir()
	redisSrv := startRedis(t, redisPass, false)
	redisURL := redisSrv.URL
	ctx := context.Background()

	// The simulator, as a process, with the secrets from its environment.
	simLog := filepath.Join(outDir, "sinchsim-serving")
	sim := startCommand(t, bin, root, "sinchsim", simLog, map[string]string{
		"SINCHSIM_KEY_ID": keyID, "SINCHSIM_KEY_SECRET": keySecret, "SINCHSIM_WEBHOOK_SECRET": webhookSecret,
		"SINCHSIM_OVERRIDE_CALLBACK_SECRET": overrideSecret,
	}, "--addr", "127.0.0.1:0", "--processing-mode", "DISPATCH", "--rate-limit", "-1")
	simURL := waitForMatch(t, simLog, regexp.MustCompile(`"sinchsim ready" url=(\S+)`))
	defer stopCommand(t, sim, "sinchsim")

	// Between the binaries and the simulator: a proxy that records every
	// access token issued and every 401 answered.
	proxy := newRecordingProxy(t, simURL)

	usersFile, usersHash := writeUsersFile(t, work)
	env := map[string]string{
		"DASHBOARD_USERS_FILE":          usersFile,
		"REDIS_URL":                     redisURL,
		"SINCH_PROJECT_ID":              sinchsim.DefaultProjectID,
		"SINCH_APP_ID":                  sinchsim.DefaultAppID,
		"SINCH_KEY_ID":                  keyID,
		"SINCH_KEY_SECRET":              keySecret,
		"SINCH_BASE_URL":                proxy.URL,
		"SINCH_AUTH_URL":                proxy.URL + "/oauth2/token",
		"SINCH_WEBHOOK_SECRET":          webhookSecret,
		"SINCH_WEBHOOK_OVERRIDE_SECRET": overrideSecret,
		"DASHBOARD_USER":                dashboardUser,
		"DASHBOARD_PASSWORD":            dashboardPass,
		"DASHBOARD_TOKEN":               dashboardToken,
	}
	with := func(overrides ...string) map[string]string {
		e := make(map[string]string, len(env))
		for k, v := range env {
			e[k] = v
		}
		for i := 0; i < len(overrides); i += 2 {
			e[overrides[i]] = overrides[i+1]
		}
		return e
	}
	wrongRedis := strings.Replace(redisURL, redisPass, badRedisPass, 1)

	csvPath := filepath.Join(work, "recipients.csv")
	phones := []string{"+33612345670", "+33612345671", "+33612345672"}
	os.WriteFile(csvPath, []byte("phone,first_name\n"+phones[0]+",Ann\n"+phones[1]+",Bob\nn/a,Bad\n"+phones[2]+",Cy\n"), 0o600)
	bodies := []string{"Hi Ann", "Hi Bob", "Hi Cy"}
	rejects := filepath.Join(work, "rejects.csv")
	report := filepath.Join(work, "report.csv")
	text := "Hi {{.first_name}}"

	type run struct {
		name    string
		command string
		args    []string
		env     map[string]string
		wantErr bool
		// until, if set, runs the command in the background until until
		// returns true, then calls during (if set) with its output file,
		// then stops it with SIGTERM.
		until  func() bool
		during func(outFile string)
	}
	done := func(id string) func() bool {
		return func() bool {
			c, err := campaign.NewStore(redisSrv.Client).Counters(ctx, id)
			return err == nil && c.Total() > 0 && c.Pending == 0
		}
	}
	saw401 := func() bool { return proxy.unauthorized() > 0 }
	workerMetrics := filepath.Join(outDir, "worker-metrics")
	scrape := func(outFile string) {
		addr := waitForMatch(t, outFile, regexp.MustCompile(`msg="metrics listening" addr=(\S+)`))
		scrapeWorker(t, addr, workerMetrics, 3)
	}
	runs := []run{
		// Success paths.
		{name: "enqueue", command: "enqueue", args: []string{"--campaign", "sec", "--csv", csvPath, "--text", text, "--rejects", rejects}},
		{name: "worker oauth2", command: "worker", args: []string{"--rate", "50", "--log-level", "debug", "--metrics-addr", "127.0.0.1:0"},
			until: done("sec"), during: scrape},
		// Enqueued only now, so the worker above does not send it.
		{name: "enqueue basic", command: "enqueue", args: []string{"--campaign", "sec-basic", "--csv", csvPath, "--text", text}},
		{name: "worker basic", command: "worker", args: []string{"--rate", "50", "--log-level", "debug"},
			env: with("SINCH_AUTH", "basic"), until: done("sec-basic")},
		{name: "campaign list", command: "campaign", args: []string{"list"}},
		{name: "campaign status", command: "campaign", args: []string{"status", "sec", "--json"}},
		{name: "campaign report", command: "campaign", args: []string{"report", "sec", "--out", report}},
		{name: "campaign track", command: "campaign", args: []string{"track", "sec"}},
		{name: "demo", command: "demo", args: []string{"--rate", "500"}},

		// Failure paths.
		{name: "worker wrong key secret", command: "worker", args: []string{"--log-level", "debug"},
			env: with("SINCH_KEY_SECRET", badKeySecret), until: saw401},
		{name: "track wrong key secret basic", command: "campaign", args: []string{"track", "sec"},
			env: with("SINCH_KEY_SECRET", badKeySecret, "SINCH_AUTH", "basic"), wantErr: true},
		{name: "enqueue wrong redis password", command: "enqueue", args: []string{"--campaign", "x", "--csv", csvPath, "--text", text},
			env: with("REDIS_URL", wrongRedis), wantErr: true},
		{name: "worker wrong redis password", command: "worker", env: with("REDIS_URL", wrongRedis), wantErr: true},
		{name: "campaign wrong redis password", command: "campaign", args: []string{"status", "sec"}, env: with("REDIS_URL", wrongRedis), wantErr: true},
		{name: "invalid redis url", command: "worker", env: with("REDIS_URL", "redis://:"+redisPass+"@127.0.0.1:notaport/0"), wantErr: true},
		{name: "secret as a flag, bad flag", command: "worker", args: []string{"--sinch-key-secret", keySecret, "--rate", "-1"}, wantErr: true},
		{name: "enqueue unknown flag", command: "enqueue", args: []string{"--sinch-key-secret", keySecret, "--bogus"}, wantErr: true},
		{name: "campaign unknown command", command: "campaign", args: []string{"explode"}, wantErr: true},
		{name: "sinchsim bad flag", command: "sinchsim", args: []string{"--key-secret", keySecret, "--fault-500", "2"}, wantErr: true},
		{name: "demo bad flag", command: "demo", args: []string{"--rate", "0"}, wantErr: true},
	}
	for _, c := range commands {
		runs = append(runs, run{name: c + " help", command: c, args: []string{"--help"}})
	}
	runs = append(runs, run{name: "campaign status help", command: "campaign", args: []string{"status", "--help"}})

	for i, r := range runs {
		outFile := filepath.Join(outDir, fmt.Sprintf("%02d-%s", i, strings.ReplaceAll(r.name, " ", "-")))
		e := r.env
		if e == nil {
			e = env
		}
		if r.until != nil {
			cmd := startCommand(t, bin, root, r.command, outFile, e, r.args...)
			waitFor(t, r.name, outFile, r.until)
			if r.during != nil {
				r.during(outFile)
			}
			stopCommand(t, cmd, r.name)
			continue
		}
		err := runCommand(t, bin, root, r.command, outFile, e, r.args...)
		if strings.HasSuffix(r.name, "help") {
			continue // exit status of --help differs by command; only the output matters
		}
		if (err != nil) != r.wantErr {
			out, _ := os.ReadFile(outFile)
			t.Errorf("%s: got error %v, want error %v\n%s", r.name, err, r.wantErr, out)
		}
	}
	noPersonalData := exerciseDashboard(t, bin, root, outDir, env, campaign.NewStore(redisSrv.Client))
	stopCommand(t, sim, "sinchsim")

	// The runs did what they claim: sends through both auth modes, 401s
	// for the wrong key, tokens issued, files written.
	if n := proxy.unauthorized(); n == 0 {
		t.Error("the simulator answered no 401: the wrong-key paths were not exercised")
	}
	tokens := proxy.issued()
	if len(tokens) == 0 {
		t.Error("the simulator issued no access token: the OAuth2 path was not exercised")
	}
	for _, id := range []string{"sec", "sec-basic"} {
		if c, _ := campaign.NewStore(redisSrv.Client).Counters(ctx, id); c.Sent != 3 {
			t.Errorf("campaign %s: got %d sent, want 3", id, c.Sent)
		}
	}

	secrets := map[string]string{
		"SINCH_KEY_SECRET": keySecret, "wrong SINCH_KEY_SECRET": badKeySecret, "SINCH_WEBHOOK_SECRET": webhookSecret,
		"SINCH_WEBHOOK_OVERRIDE_SECRET": overrideSecret,
		"DASHBOARD_PASSWORD":            dashboardPass, "DASHBOARD_TOKEN": dashboardToken,
		"wrong DASHBOARD_PASSWORD": wrongDashboardPass, "wrong DASHBOARD_TOKEN": wrongDashboardToken,
		"wrong SINCH_WEBHOOK_SECRET":    badWebhookSecret,
		"DASHBOARD_USERS_FILE password": fileUserPass, "wrong DASHBOARD_USERS_FILE password": wrongFileUserPass,
		"DASHBOARD_USERS_FILE hash": usersHash,
		"Redis password":            redisPass, "wrong Redis password": badRedisPass,
	}
	for _, basic := range []string{keyID + ":" + keySecret, keyID + ":" + badKeySecret,
		dashboardUser + ":" + dashboardPass, dashboardUser + ":" + wrongDashboardPass,
		fileUser + ":" + fileUserPass, fileUser + ":" + wrongFileUserPass} {
		secrets["Basic credentials (base64) "+basic] = base64.StdEncoding.EncodeToString([]byte(basic))
		secrets["Basic credentials (base64url) "+basic] = base64.URLEncoding.EncodeToString([]byte(basic))
		secrets["Basic credentials (URL-escaped) "+basic] = url.QueryEscape(basic)
	}
	for i, tok := range tokens {
		secrets[fmt.Sprintf("access token %d", i)] = tok
	}
	files, _ := filepath.Glob(filepath.Join(outDir, "*"))
	files = append(files, rejects, report)
	all := assertAbsent(t, files, secrets)
	// The search can find things: the key ID is not a secret and the
	// simulator logs it; each command's --help was captured.
	if !strings.Contains(all, keyID) || !strings.Contains(all, "Usage") {
		t.Fatalf("the captured output lacks the key ID or usage text; capture is broken:\n%s", all)
	}
	t.Logf("searched %d files, %d bytes, for %d secret forms", len(files), len(all), len(secrets))

	// Metrics pages and the dashboard's log hold no personal data either
	// (the receipt the dashboard received named a phone number).
	noPersonalData = append(noPersonalData, workerMetrics)
	pd := assertAbsent(t, noPersonalData, personalData(phones, bodies))
	if !strings.Contains(pd, "sinch_dispatch_sends_total") || !strings.Contains(pd, "dashboard listening") {
		t.Fatalf("the metrics pages or the dashboard log were not captured:\n%s", pd)
	}
}

// command prepares a binary with only env (and PATH) in its environment,
// its stdout and stderr going to outFile.
func command(t *testing.T, ctx context.Context, bin, dir, name, outFile string, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	out, err := os.Create(outFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "SSL_CERT_FILE=" + os.Getenv("SSL_CERT_FILE")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, out
	return cmd
}

// runCommand runs a binary to completion (at most a minute).
func runCommand(t *testing.T, bin, dir, name, outFile string, env map[string]string, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return command(t, ctx, bin, dir, name, outFile, env, args...).Run()
}

// startCommand starts a long-running binary; stopCommand ends it.
func startCommand(t *testing.T, bin, dir, name, outFile string, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := command(t, context.Background(), bin, dir, name, outFile, env, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// stopCommand sends SIGTERM and waits; the command must exit cleanly.
func stopCommand(t *testing.T, cmd *exec.Cmd, name string) {
	t.Helper()
	if cmd.ProcessState != nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("%s did not exit cleanly on SIGTERM: %v", name, err)
	}
}

// waitFor polls cond until it holds, failing after 30 s with the command's
// output.
func waitFor(t *testing.T, what, outFile string, cond func() bool) {
	t.Helper()
	if !testwait.Until(30*time.Second, cond) {
		out, _ := os.ReadFile(outFile)
		t.Fatalf("%s: condition not met after 30s; output:\n%s", what, out)
	}
}

// waitForMatch waits until re matches the file and returns its first group.
func waitForMatch(t *testing.T, file string, re *regexp.Regexp) string {
	t.Helper()
	var m []string
	waitFor(t, "waiting for "+re.String(), file, func() bool {
		data, _ := os.ReadFile(file)
		m = re.FindStringSubmatch(string(data))
		return m != nil
	})
	return m[1]
}

// recordingProxy forwards to the simulator, noting each access token it
// issues and each 401 it answers.
type recordingProxy struct {
	*httptest.Server
	mu     sync.Mutex
	tokens []string
	n401   int
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if resp.StatusCode == http.StatusUnauthorized {
			p.n401++
		}
		if resp.Request.URL.Path != "/oauth2/token" || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(body, &tok) == nil && tok.AccessToken != "" {
			p.tokens = append(p.tokens, tok.AccessToken)
		}
		return nil
	}
	p.Server = httptest.NewServer(rp)
	t.Cleanup(p.Close)
	return p
}

func (p *recordingProxy) issued() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.tokens...)
}

func (p *recordingProxy) unauthorized() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n401
}
