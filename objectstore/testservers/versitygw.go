package testservers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Server is a running versitygw.
type S3Server struct {
	// Endpoint is http://127.0.0.1:PORT.
	Endpoint string
	// HostPort is 127.0.0.1:PORT.
	HostPort  string
	AccessKey string
	SecretKey string
	Region    string
	// Dir is the directory holding the buckets.
	Dir string
}

var (
	binOnce sync.Once
	binPath string
)

// VersityGWPath returns the versitygw binary, or "" if it is not installed.
func VersityGWPath() string {
	binOnce.Do(func() {
		if p, err := exec.LookPath("versitygw"); err == nil {
			binPath = p
			return
		}
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, "bin", "tools", "versitygw")
				if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
					binPath = p
				}
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	return binPath
}

// StartVersityGW starts versitygw on a free loopback port with a fresh
// directory and stops it when the test ends. It skips the test when the
// binary is not installed.
func StartVersityGW(tb testing.TB) *S3Server {
	tb.Helper()
	bin := VersityGWPath()
	if bin == "" {
		tb.Skip("versitygw not installed: run `make deps` (installs it into bin/tools)")
	}
	srv := &S3Server{
		AccessKey: "STRATATESTKEY" + randHex(4),
		SecretKey: "secret-" + randHex(16),
		Region:    "us-east-1",
		Dir:       tb.TempDir(),
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("free port: %v", err)
		}
		srv.HostPort = fmt.Sprintf("127.0.0.1:%d", port)
		srv.Endpoint = "http://" + srv.HostPort
		var logBuf strings.Builder
		cmd := exec.Command(bin, "--access", srv.AccessKey, "--secret", srv.SecretKey,
			"--region", srv.Region, "--port", srv.HostPort, "--quiet", "--keep-alive", "posix", srv.Dir)
		cmd.Stdout = &syncWriter{w: &logBuf}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start versitygw: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if err := waitListening(srv.HostPort, exited, 15*time.Second); err != nil {
			cmd.Process.Kill()
			lastErr = fmt.Errorf("%w; output: %s", err, cmd.Stdout.(*syncWriter).String())
			continue
		}
		tb.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		return srv
	}
	tb.Fatalf("versitygw did not start: %v", lastErr)
	return nil
}

// Client returns an SDK client for the server, for test setup and checks.
func (s *S3Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
	})
}

// CreateBucket creates a bucket and returns its name. An empty name picks
// a fresh one.
func (s *S3Server) CreateBucket(tb testing.TB, name string) string {
	tb.Helper()
	if name == "" {
		name = "strata-" + randHex(6)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// SetAWSEnv points the standard AWS credential chain at the server for the
// rest of the test.
func (s *S3Server) SetAWSEnv(tb testing.TB) {
	tb.Setenv("AWS_ACCESS_KEY_ID", s.AccessKey)
	tb.Setenv("AWS_SECRET_ACCESS_KEY", s.SecretKey)
	tb.Setenv("AWS_REGION", s.Region)
	tb.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	tb.Setenv("AWS_CONFIG_FILE", filepath.Join(tb.TempDir(), "none"))
	tb.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(tb.TempDir(), "none"))
}

func waitListening(hostPort string, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited early: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", hostPort, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not listening on %s after %v", hostPort, timeout)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w.Len() > 64<<10 {
		return len(p), nil
	}
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}
