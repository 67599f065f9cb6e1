package testservers

import (
	"fmt"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// GCSServer is an in-process fake-gcs-server.
type GCSServer struct {
	// HostPort is 127.0.0.1:PORT; set STORAGE_EMULATOR_HOST to it.
	HostPort string
	Server   *fakestorage.Server
}

// StartFakeGCS starts fake-gcs-server over plain HTTP on a free loopback
// port and stops it when the test ends. PublicHost is set to the exact
// host:port: without it every read fails with "object doesn't exist".
func StartFakeGCS(tb testing.TB) *GCSServer {
	tb.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("free port: %v", err)
		}
		hostPort := fmt.Sprintf("127.0.0.1:%d", port)
		srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
			Scheme:     "http",
			Host:       "127.0.0.1",
			Port:       uint16(port),
			PublicHost: hostPort,
			Writer:     discard{},
		})
		if err != nil {
			lastErr = err
			continue
		}
		tb.Cleanup(srv.Stop)
		return &GCSServer{HostPort: hostPort, Server: srv}
	}
	tb.Fatalf("fake-gcs-server did not start: %v", lastErr)
	return nil
}

// CreateBucket creates a bucket and returns its name; empty picks one.
func (g *GCSServer) CreateBucket(tb testing.TB, name string) string {
	tb.Helper()
	if name == "" {
		name = "strata-" + randHex(6)
	}
	g.Server.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
	return name
}

// SetEmulatorEnv points the GCS client at the server for the test.
func (g *GCSServer) SetEmulatorEnv(tb testing.TB) {
	tb.Setenv("STORAGE_EMULATOR_HOST", g.HostPort)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
