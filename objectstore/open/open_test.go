package open_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/open"
	"github.com/stratalog/strata/objectstore/testservers"
)

func fastRetry() objectstore.RetryPolicy {
	return objectstore.RetryPolicy{MaxAttempts: 6, BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
}

// throttledBackends are the backends behind a fault proxy, with the
// throttling response of their real service.
func throttledBackends(t *testing.T) []struct {
	name, url, body string
	status          int
	proxy           *testservers.FaultProxy
} {
	vgw := testservers.StartVersityGW(t)
	vgw.SetAWSEnv(t)
	bucket := vgw.CreateBucket(t, "")
	s3Proxy := testservers.StartFaultProxy(t, vgw.Endpoint, false)
	minioProxy := testservers.StartFaultProxy(t, vgw.Endpoint, false)
	gcs := testservers.StartFakeGCS(t)
	gbucket := gcs.CreateBucket(t, "")
	gcsProxy := testservers.StartFaultProxy(t, "http://"+gcs.HostPort, true)
	t.Setenv("STORAGE_EMULATOR_HOST", gcsProxy.HostPort)
	return []struct {
		name, url, body string
		status          int
		proxy           *testservers.FaultProxy
	}{
		{"s3", fmt.Sprintf("s3://%s/p?endpoint=%s&path_style=true", bucket, s3Proxy.URL), testservers.S3SlowDown, 503, s3Proxy},
		{"minio", fmt.Sprintf("minio://%s/%s/p?secure=false", minioProxy.HostPort, bucket), testservers.S3SlowDown, 503, minioProxy},
		{"gs", fmt.Sprintf("gs://%s/p", gbucket), testservers.GCSRateLimited, 429, gcsProxy},
	}
}

// TestThrottledRetriedThenSucceeds: a store that throttles the first
// requests of each operation is retried inside the backend, the caller
// sees success, and the retries are counted.
func TestThrottledRetriedThenSucceeds(t *testing.T) {
	for _, b := range throttledBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			opts := open.Default()
			opts.Retry = fastRetry()
			opts.Registerer = reg
			s, err := open.Open(context.Background(), b.url, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			data := []byte("throttled but durable")

			b.proxy.FailNext(3, b.status, b.body, nil)
			if _, err := s.Put(ctx, "k", bytes.NewReader(data), int64(len(data)), objectstore.PutOptions{}); err != nil {
				t.Fatalf("put through throttling: %v", err)
			}
			b.proxy.FailNext(3, b.status, b.body, nil)
			rc, err := s.GetRange(ctx, "k", 0, -1)
			if err != nil {
				t.Fatalf("get through throttling: %v", err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, data) {
				t.Fatalf("got %q", got)
			}
			b.proxy.FailNext(2, b.status, b.body, nil)
			if _, err := s.Stat(ctx, "k"); err != nil {
				t.Fatalf("stat through throttling: %v", err)
			}
			if n := b.proxy.Failed(); n != 8 {
				t.Fatalf("proxy injected %d failures, want 8", n)
			}
			retries := counterSum(t, reg, "strata_objectstore_retries_total", b.name)
			if retries != 8 {
				t.Fatalf("retries counted %v, want 8", retries)
			}
		})
	}
}

// counterSum sums a counter family's samples for one backend.
func counterSum(t *testing.T, reg *prometheus.Registry, name, backend string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "backend" && l.GetValue() == backend {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return total
}

// TestThrottledGivesUp: persistent throttling surfaces as ErrThrottled
// after MaxAttempts, and a context deadline cuts the retrying short.
func TestThrottledGivesUp(t *testing.T) {
	for _, b := range throttledBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			opts := open.Default()
			opts.Retry = fastRetry()
			s, err := open.Open(context.Background(), b.url, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			b.proxy.FailNext(1000, b.status, b.body, func(r *http.Request) bool { return r.Method != http.MethodPut && r.Method != http.MethodPost })
			before := b.proxy.Failed()
			_, err = s.Stat(context.Background(), "k")
			if !errors.Is(err, objectstore.ErrThrottled) {
				t.Fatalf("stat under throttling: %v (class %v)", err, objectstore.ClassOf(err))
			}
			if n := b.proxy.Failed() - before; n != 6 {
				t.Fatalf("%d attempts, want MaxAttempts=6", n)
			}

			slow := open.Default()
			slow.Retry = objectstore.RetryPolicy{MaxAttempts: 100, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
			s2, err := open.Open(context.Background(), b.url, open.Options{Retry: slow.Retry, SkipStartupCheck: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
			defer cancel()
			start := time.Now()
			_, err = s2.Stat(ctx, "k")
			if el := time.Since(start); el > 900*time.Millisecond {
				t.Fatalf("retrying outlasted the deadline: %v", el)
			}
			if !errors.Is(err, objectstore.ErrThrottled) && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("stat with deadline: %v", err)
			}
			b.proxy.FailNext(0, 0, "", nil)
		})
	}
}

// TestStartupErrors: configuration errors fail in Open, naming the bucket
// and the operation, with the right class.
func TestStartupErrors(t *testing.T) {
	vgw := testservers.StartVersityGW(t)
	vgw.SetAWSEnv(t)
	gcs := testservers.StartFakeGCS(t)
	gcs.SetEmulatorEnv(t)
	ctx := context.Background()
	opts := open.Default()
	opts.Retry = fastRetry()
	cases := []struct {
		name, url string
		class     error
		mention   []string
	}{
		{"bad scheme", "ftp://x/y", objectstore.ErrInvalid, []string{"ftp"}},
		{"relative dir", "file://rel/dir", objectstore.ErrInvalid, []string{"absolute"}},
		{"no bucket", "s3:///prefix", objectstore.ErrInvalid, []string{"missing bucket"}},
		{"unknown param", "s3://bucket?regoin=x", objectstore.ErrInvalid, []string{"regoin"}},
		{"credentials in URL", "s3://key:secret@bucket/p", objectstore.ErrInvalid, []string{"credentials"}},
		{"s3 missing bucket", fmt.Sprintf("s3://no-such-bucket?endpoint=%s&path_style=true", vgw.Endpoint), objectstore.ErrNotFound, []string{"no-such-bucket", "head bucket"}},
		{"minio missing bucket", fmt.Sprintf("minio://%s/no-such-bucket?secure=false", vgw.HostPort), objectstore.ErrNotFound, []string{"no-such-bucket", "check bucket"}},
		{"gs missing bucket", "gs://no-such-bucket/p", objectstore.ErrNotFound, []string{"no-such-bucket", "bucket attributes"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := open.Open(ctx, c.url, opts)
			if !errors.Is(err, c.class) {
				t.Fatalf("Open(%s) = %v, want class %v", c.url, err, c.class)
			}
			for _, m := range c.mention {
				if !strings.Contains(err.Error(), m) {
					t.Fatalf("error %q does not mention %q", err, m)
				}
			}
		})
	}
	t.Run("wrong credentials", func(t *testing.T) {
		bucket := vgw.CreateBucket(t, "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
		for _, u := range []string{
			fmt.Sprintf("s3://%s?endpoint=%s&path_style=true", bucket, vgw.Endpoint),
			fmt.Sprintf("minio://%s/%s?secure=false", vgw.HostPort, bucket),
		} {
			_, err := open.Open(ctx, u, opts)
			if !errors.Is(err, objectstore.ErrPermission) || !strings.Contains(err.Error(), bucket) {
				t.Fatalf("Open(%s) with a wrong secret = %v (class %v), want a permission error naming the bucket", u, err, objectstore.ClassOf(err))
			}
		}
	})
}
