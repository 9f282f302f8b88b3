// Package deploy holds the deployment files (docker-compose.yml at the
// repository root, prometheus.yml here). There is no Docker engine in CI:
// this test checks them against the binaries instead.
package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sinch-dispatch/sinch-dispatch/internal/devtools/procs"
	"go.yaml.in/yaml/v3"
)

const root = ".."

type compose struct {
	Services map[string]service `yaml:"services"`
	Secrets  map[string]struct {
		Environment string `yaml:"environment"`
		File        string `yaml:"file"`
	} `yaml:"secrets"`
}

type service struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Profiles    []string          `yaml:"profiles"`
	Volumes     []string          `yaml:"volumes"`
	Secrets     []string          `yaml:"secrets"`
}

// binary is the program a service of our image runs.
func (s service) binary() string {
	if len(s.Entrypoint) > 0 {
		return s.Entrypoint[0]
	}
	if len(s.Command) > 0 {
		return s.Command[0]
	}
	return ""
}

// flagValue returns the value after --name in the service's command.
func (s service) flagValue(name string) string {
	for i, a := range s.Command {
		if a == "--"+name && i+1 < len(s.Command) {
			return s.Command[i+1]
		}
	}
	return ""
}

func readCompose(t *testing.T) (compose, string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c, string(raw)
}

const ourImage = "sinch-dispatch:latest"

func TestComposeServices(t *testing.T) {
	c, _ := readCompose(t)
	profile := map[string]string{"redis": "", "worker": "", "dashboard": "", "prometheus": "", "sinchsim": "sim", "enqueue": "tools"}
	for name, p := range profile {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("service %s missing", name)
			continue
		}
		if got := strings.Join(s.Profiles, ","); got != p {
			t.Errorf("service %s: profiles %q, want %q", name, got, p)
		}
	}
	redis := c.Services["redis"]
	cmd := " " + strings.Join(redis.Command, " ") + " "
	for _, want := range []string{" --appendonly yes ", " --maxmemory-policy noeviction "} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redis command %q lacks %q", cmd, strings.TrimSpace(want))
		}
	}
	if len(redis.Ports) > 0 {
		t.Errorf("redis is published on the host (%v): it has no password", redis.Ports)
	}
	// Scaling needs no fixed host port on the worker.
	if w := c.Services["worker"]; len(w.Ports) > 0 {
		t.Errorf("worker publishes %v: `--scale worker=3` would conflict", w.Ports)
	}
	// Published ports are the ones the programs listen on.
	if got := c.Services["dashboard"].Ports; !slices.Equal(got, []string{"8080:" + port(c.Services["dashboard"].flagValue("addr"))}) {
		t.Errorf("dashboard ports %v do not publish its --addr", got)
	}
	if got := c.Services["prometheus"].Ports; !slices.Equal(got, []string{"127.0.0.1:9090:9090"}) {
		t.Errorf("prometheus ports %v: want 127.0.0.1:9090:9090 (Prometheus has no auth)", got)
	}
	for name, s := range c.Services {
		if s.Image == ourImage && s.Build == nil {
			t.Errorf("service %s uses %s without build: compose would try to pull it", name, ourImage)
		}
	}
}

func port(addr string) string {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return ""
	}
	return addr[i+1:]
}

// binaries builds every command as the Dockerfile does (./cmd/...).
func binaries(t *testing.T) string {
	t.Helper()
	return procs.BuildForTest(t, "...")
}

// envNameRE matches environment variable names as --help documents them:
// "[env REDIS_URL]", "(env SCHEDULES_FILE)", "DASHBOARD_PASSWORD", and
// "SINCHSIM_<FLAG>" (one variable per flag).
var (
	envNameRE   = regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b`)
	envPrefixRE = regexp.MustCompile(`\b([A-Z][A-Z0-9]*_)<FLAG>`)
	flagRE      = regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`)
)

// help is what a binary documents: its flags and the environment
// variables it reads, taken from its own --help (the one source of truth).
type help struct {
	flags, env map[string]bool
}

func helpOf(t *testing.T, bin string) help {
	t.Helper()
	args := []string{"--help"}
	if bin == "campaign" { // subcommands: track takes every setting the others do, and Sinch's
		args = []string{"track", "--help"}
	}
	out, _ := exec.Command(filepath.Join(binaries(t), bin), args...).CombinedOutput() // --help may exit 0 or 2
	h := help{flags: map[string]bool{}, env: map[string]bool{}}
	for _, m := range flagRE.FindAllStringSubmatch(string(out), -1) {
		h.flags[m[1]] = true
	}
	if len(h.flags) == 0 {
		t.Fatalf("%s --help lists no flags:\n%s", bin, out)
	}
	for _, n := range envNameRE.FindAllString(string(out), -1) {
		h.env[n] = true
	}
	for _, m := range envPrefixRE.FindAllStringSubmatch(string(out), -1) {
		for f := range h.flags {
			h.env[m[1]+strings.ToUpper(strings.ReplaceAll(f, "-", "_"))] = true
		}
	}
	return h
}

// Every service of our image runs a binary that exists, with flags it
// has, and is given only environment variables it reads.
func TestComposeCommandsFlagsAndEnvMatchTheBinaries(t *testing.T) {
	c, _ := readCompose(t)
	for name, s := range c.Services {
		if s.Image != ourImage {
			continue
		}
		t.Run(name, func(t *testing.T) {
			bin := s.binary()
			if _, err := os.Stat(filepath.Join(root, "cmd", bin)); err != nil {
				if bin == "dashboard" {
					t.Skip("cmd/dashboard is not on this branch yet: checked once it is merged")
				}
				t.Fatalf("runs %q: no such command under cmd/", bin)
			}
			h := helpOf(t, bin)
			args := s.Command
			if len(s.Entrypoint) == 0 && len(args) > 0 {
				args = args[1:]
			}
			for _, a := range args {
				if f, ok := strings.CutPrefix(a, "--"); ok && !h.flags[f] {
					t.Errorf("%s has no flag --%s", bin, f)
				}
			}
			for k := range s.Environment {
				if !h.env[k] {
					t.Errorf("%s does not read %s (not in its --help)", bin, k)
				}
			}
		})
	}
}

// .env.example names exactly the variables compose interpolates, so every
// setting a user fills in reaches a service (or a compose secret).
func TestEnvExampleMatchesCompose(t *testing.T) {
	c, raw := readCompose(t)
	b, err := os.ReadFile(filepath.Join(root, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	example := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok {
			t.Errorf(".env.example: %q is not NAME=value", line)
			continue
		}
		example[k] = true
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)`).FindAllStringSubmatch(raw, -1) {
		used[m[1]] = true
	}
	for _, s := range c.Secrets {
		if s.Environment != "" {
			used[s.Environment] = true
		}
	}
	for k := range example {
		if !used[k] {
			t.Errorf(".env.example sets %s, which docker-compose.yml never uses", k)
		}
	}
	for k := range used {
		if !example[k] {
			t.Errorf("docker-compose.yml uses ${%s}, which .env.example does not document", k)
		}
	}
	gi, _ := os.ReadFile(filepath.Join(root, ".gitignore"))
	di, _ := os.ReadFile(filepath.Join(root, ".dockerignore"))
	for name, f := range map[string][]byte{".gitignore": gi, ".dockerignore": di} {
		if !slices.Contains(strings.Fields(string(f)), ".env") {
			t.Errorf("%s does not exclude .env (it holds secrets)", name)
		}
	}
}

type promConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		Authorization *struct {
			Type            string `yaml:"type"`
			CredentialsFile string `yaml:"credentials_file"`
		} `yaml:"authorization"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// Prometheus scrapes each worker replica and the dashboard where they
// serve /metrics, with the dashboard's token.
func TestPrometheusTargetsMatchCompose(t *testing.T) {
	c, _ := readCompose(t)
	b, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var p promConfig
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	prom := c.Services["prometheus"]
	if !slices.Contains(prom.Volumes, "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro") {
		t.Errorf("prometheus does not mount deploy/prometheus.yml: %v", prom.Volumes)
	}
	jobs := map[string]bool{}
	for _, sc := range p.ScrapeConfigs {
		jobs[sc.JobName] = true
		if sc.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %q", sc.JobName, sc.MetricsPath)
		}
		switch sc.JobName {
		case "worker":
			want := port(c.Services["worker"].flagValue("metrics-addr"))
			if len(sc.DNSSDConfigs) != 1 || !slices.Equal(sc.DNSSDConfigs[0].Names, []string{"worker"}) ||
				sc.DNSSDConfigs[0].Type != "A" || want == "" || strconv.Itoa(sc.DNSSDConfigs[0].Port) != want {
				t.Errorf("job worker: %+v, want DNS A records of service worker on its --metrics-addr port %q", sc.DNSSDConfigs, want)
			}
		case "dashboard":
			want := "dashboard:" + port(c.Services["dashboard"].flagValue("addr"))
			if len(sc.StaticConfigs) != 1 || !slices.Equal(sc.StaticConfigs[0].Targets, []string{want}) {
				t.Errorf("job dashboard: targets %+v, want [%s]", sc.StaticConfigs, want)
			}
			a := sc.Authorization
			if a == nil || a.Type != "Bearer" || len(prom.Secrets) != 1 || a.CredentialsFile != "/run/secrets/"+prom.Secrets[0] {
				t.Errorf("job dashboard: authorization %+v does not read the mounted secret %v", a, prom.Secrets)
			} else if c.Secrets[prom.Secrets[0]].Environment != "DASHBOARD_TOKEN" {
				t.Errorf("secret %s is not DASHBOARD_TOKEN, the dashboard's bearer token", prom.Secrets[0])
			}
			if c.Services["dashboard"].Environment["DASHBOARD_TOKEN"] == "" {
				t.Error("the dashboard is not given DASHBOARD_TOKEN, so Prometheus's token would be refused")
			}
		default:
			t.Errorf("unexpected job %s", sc.JobName)
		}
	}
	if !jobs["worker"] || !jobs["dashboard"] {
		t.Errorf("jobs %v, want worker and dashboard", jobs)
	}
}

// The image is static and built from every command.
func TestDockerfileBuildsStaticBinaries(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d := string(b)
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/...", "AS build", "COPY --from=build"} {
		if !strings.Contains(d, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^FROM (gcr\.io/distroless/static\S*|scratch)\s*$`).MatchString(d) {
		t.Error("the final stage is neither distroless/static nor scratch")
	}
}
