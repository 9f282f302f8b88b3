package procs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// RedisOptions choose how a private redis-server persists.
type RedisOptions struct {
	// AppendOnly turns on the AOF with appendfsync everysec, so that a
	// restart on the same directory finds the data again; otherwise the
	// server persists nothing.
	AppendOnly bool
	// Args are more redis-server options, e.g. "--maxmemory", "20mb" or
	// "--replicaof".
	Args []string
}

// Redis is a private redis-server on a free port of 127.0.0.1, so that what
// a benchmark or scenario measures is not disturbed by other users of the
// machine's Redis, and it may be stopped and restarted at will.
type Redis struct {
	Addr    string
	Version string
	Client  *redis.Client
	dir     string
	port    int
	opts    RedisOptions
	cmd     *exec.Cmd
	done    chan struct{}
}

// StartRedis starts redis-server with its files in dir and waits until it
// answers.
func StartRedis(ctx context.Context, dir string, opts RedisOptions) (*Redis, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server not found on PATH (apt-get install redis-server)")
	}
	var lastErr error
	for range 3 { // the free port may be taken between probe and bind
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		s := &Redis{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir, port: port, opts: opts}
		s.Client = redis.NewClient(&redis.Options{Addr: s.Addr, PoolSize: 64})
		if lastErr = s.start(ctx); lastErr == nil {
			info, err := s.Client.Info(ctx, "server").Result()
			if err != nil {
				s.Close()
				return nil, err
			}
			s.Version = infoField(info, "redis_version")
			return s, nil
		}
		s.Client.Close()
	}
	return nil, lastErr
}

func (s *Redis) logPath() string { return filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", s.port)) }

// start runs the server process and waits until it answers PING.
func (s *Redis) start(ctx context.Context) error {
	args := []string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "",
		"--dir", s.dir, "--logfile", s.logPath()}
	if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, s.opts.Args...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	done := s.done
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second) // an AOF replay takes a moment
	for {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := s.Client.Ping(pctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(s.logPath())
			return fmt.Errorf("redis-server exited at startup: %s", LastLines(string(log), 5))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Kill()
			return fmt.Errorf("redis-server on %s did not answer: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts the server down with SIGTERM, which makes it write and fsync
// the AOF before exiting, and waits for it.
func (s *Redis) Stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.Kill()
	}
}

// Kill stops the server with SIGKILL: whatever the AOF had not fsynced is
// lost, as in a power cut.
func (s *Redis) Kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// Restart starts the server again on the same port and directory, after
// Stop or Kill.
func (s *Redis) Restart(ctx context.Context) error { return s.start(ctx) }

// Close stops the server and closes the client.
func (s *Redis) Close() {
	s.Client.Close()
	s.Stop()
}

// Pid is the process ID of the running server.
func (s *Redis) Pid() int { return s.cmd.Process.Pid }

// Port is the server's TCP port.
func (s *Redis) Port() int { return s.port }

// URL is the redis:// URL binaries take in REDIS_URL.
func (s *Redis) URL() string { return "redis://" + s.Addr + "/0" }

// AsynqOpt connects asynq to the server.
func (s *Redis) AsynqOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: s.Addr, PoolSize: 64}
}

// Info is one field of INFO section.
func (s *Redis) Info(ctx context.Context, section, field string) (string, error) {
	info, err := s.Client.Info(ctx, section).Result()
	if err != nil {
		return "", err
	}
	return infoField(info, field), nil
}

func infoField(info, name string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// FreePort is a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
