package securitytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/sinch-dispatch/sinch-dispatch/internal/testwait"
)

// tlsDir holds the throwaway CA and server certificate made by TestMain.
// rediss:// URLs use the system trust store (asynq.ParseRedisURI sets only
// ServerName), so TestMain points SSL_CERT_FILE at the CA before anything in
// this process loads that store: the same knob an operator with a private
// CA uses.
var tlsDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "securitytest-tls")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := writeCerts(dir); err != nil {
		fmt.Fprintln(os.Stderr, "making test certificates:", err)
		os.Exit(1)
	}
	tlsDir = dir
	os.Setenv("SSL_CERT_FILE", filepath.Join(dir, "ca.pem"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeCerts writes ca.pem, and server.pem/server.key for 127.0.0.1 signed
// by it.
func writeCerts(dir string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sinch-dispatch test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srv := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return err
	}
	for name, block := range map[string]*pem.Block{
		"ca.pem":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.pem": {Type: "CERTIFICATE", Bytes: srvDER},
		"server.key": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// redisServer is a redis-server process of one test's own.
type redisServer struct {
	URL    string // with the password
	Client redis.UniversalClient
	Log    string // path of the server's log
}

// startRedis starts redis-server on a free port with requirepass password;
// with useTLS it listens on TLS only and URL is rediss://. It skips the test
// when redis-server is not installed, unless CI=true, where it fails.
func startRedis(t *testing.T, password string, useTLS bool) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed; CI must run this test")
		}
		t.Skip("redis-server is not installed")
	}
	port := freePort(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "redis.log")
	args := []string{"--bind", "127.0.0.1", "--requirepass", password, "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", logPath}
	scheme := "redis"
	if useTLS {
		scheme = "rediss"
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(port),
			"--tls-cert-file", filepath.Join(tlsDir, "server.pem"), "--tls-key-file", filepath.Join(tlsDir, "server.key"),
			"--tls-ca-cert-file", filepath.Join(tlsDir, "ca.pem"), "--tls-auth-clients", "no")
	} else {
		args = append(args, "--port", strconv.Itoa(port))
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	url := fmt.Sprintf("%s://:%s@127.0.0.1:%d/0", scheme, password, port)
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		t.Fatal(err)
	}
	client := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { client.Close() })
	if !testwait.Until(10*time.Second, func() bool {
		if err = client.Ping(context.Background()).Err(); err == nil {
			return true
		}
		select {
		case werr := <-exited:
			logs, _ := os.ReadFile(logPath)
			t.Fatalf("redis-server %v exited: %v\n%s", args, werr, logs)
		default:
		}
		return false
	}) {
		logs, _ := os.ReadFile(logPath)
		t.Fatalf("redis-server did not answer on port %d: %v\n%s", port, err, logs)
	}
	return &redisServer{URL: url, Client: client, Log: logPath}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
