package bench

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

// redisServer is a private redis-server started for the benchmarks, so that
// FLUSHALL and INFO memory see only what a measurement did, and other users
// of the machine's Redis are not disturbed.
type redisServer struct {
	Addr    string
	Version string
	Client  *redis.Client
	cmd     *exec.Cmd
	done    chan struct{}
}

// startRedis starts redis-server on a free port of 127.0.0.1, without
// persistence, and waits until it answers.
func startRedis(ctx context.Context, dir string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redis-server not found on PATH: the benchmarks start their own Redis (apt-get install redis-server)")
	}
	var lastErr error
	for range 3 { // the free port may be taken between probe and bind
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s, err := tryRedis(ctx, bin, dir, port)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func tryRedis(ctx context.Context, bin, dir string, port int) (*redisServer, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := filepath.Join(dir, fmt.Sprintf("redis-%d.log", port))
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", logPath)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	s := &redisServer{Addr: addr, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	s.Client = redis.NewClient(&redis.Options{Addr: addr, PoolSize: 64})
	deadline := time.Now().Add(5 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := s.Client.Ping(pctx).Err()
		cancel()
		if err == nil {
			break
		}
		select {
		case <-s.done:
			s.Client.Close()
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("redis-server exited at startup: %s", lastLines(string(log), 5))
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Close()
			return nil, fmt.Errorf("redis-server on %s did not answer: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	info, err := s.Client.Info(ctx, "server").Result()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Version = infoField(info, "redis_version")
	return s, nil
}

// Close stops the server (it has nothing to save) and waits for it.
func (s *redisServer) Close() {
	s.Client.Close()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// URL is the redis:// URL binaries take in REDIS_URL.
func (s *redisServer) URL() string { return "redis://" + s.Addr + "/0" }

// AsynqOpt connects asynq to the server.
func (s *redisServer) AsynqOpt() asynq.RedisClientOpt {
	return asynq.RedisClientOpt{Addr: s.Addr, PoolSize: 64}
}

// Fresh empties the server before a measurement.
func (s *redisServer) Fresh(ctx context.Context) error {
	return s.Client.FlushAll(ctx).Err()
}

// UsedMemory is INFO memory's used_memory in bytes.
func (s *redisServer) UsedMemory(ctx context.Context) (int64, error) {
	info, err := s.Client.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
}

// meanPing is the mean PING round trip to addr over n calls on one connection.
func meanPing(ctx context.Context, addr string, n int) (time.Duration, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil { // connect outside the timing
		return 0, err
	}
	start := time.Now()
	for range n {
		if err := c.Ping(ctx).Err(); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
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

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
