package faultstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/faultstore"
	"github.com/stratalog/strata/objectstore/filestore"
	"github.com/stratalog/strata/objectstore/open"
	"github.com/stratalog/strata/objectstore/testservers"
)

func fileStore(t *testing.T) objectstore.Store {
	s, err := filestore.Open(filestore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRateAndClass(t *testing.T) {
	ctx := context.Background()
	inner := fileStore(t)
	if _, err := inner.Put(ctx, "k", bytes.NewReader([]byte("v")), 1, objectstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	fs := faultstore.New(inner, faultstore.Config{Seed: 1, Faults: map[string]faultstore.Fault{
		faultstore.OpStat:   {Rate: 0.3},
		faultstore.OpList:   {Rate: 1, Class: objectstore.ErrThrottled},
		faultstore.OpDelete: {Rate: 1, Class: objectstore.ErrPermission},
	}})
	failed := 0
	for range 2000 {
		if _, err := fs.Stat(ctx, "k"); err != nil {
			if !errors.Is(err, objectstore.ErrTransient) || !errors.Is(err, faultstore.ErrInjected) {
				t.Fatalf("stat error %v", err)
			}
			failed++
		}
	}
	if failed < 500 || failed > 700 || fs.Injected(faultstore.OpStat) != failed {
		t.Fatalf("stat failed %d of 2000 at rate 0.3 (counted %d)", failed, fs.Injected(faultstore.OpStat))
	}
	if _, err := fs.List(ctx, objectstore.ListOptions{}); !errors.Is(err, objectstore.ErrThrottled) {
		t.Fatalf("list: %v", err)
	}
	if err := fs.Delete(ctx, "k"); !errors.Is(err, objectstore.ErrPermission) {
		t.Fatalf("delete: %v", err)
	}
	// Operations without faults pass through untouched.
	rc, err := fs.GetRange(ctx, "k", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "v" {
		t.Fatalf("get %q", b)
	}
}

func TestLatency(t *testing.T) {
	fs := faultstore.New(fileStore(t), faultstore.Config{Faults: map[string]faultstore.Fault{
		faultstore.OpStat: {Latency: 80 * time.Millisecond},
	}})
	start := time.Now()
	_, err := fs.Stat(context.Background(), "missing")
	if el := time.Since(start); el < 80*time.Millisecond {
		t.Fatalf("stat took %v, want at least the injected 80ms", el)
	}
	if !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("stat: %v", err)
	}
	// Latency respects the caller's deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := fs.Stat(ctx, "missing"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stat past deadline: %v", err)
	}
}

// TestThrottledThenRetried: a store throttling its first calls is retried
// by the retry policy and the caller sees success.
func TestThrottledThenRetried(t *testing.T) {
	ctx := context.Background()
	inner := fileStore(t)
	inner.Put(ctx, "k", bytes.NewReader([]byte("v")), 1, objectstore.PutOptions{})
	fs := faultstore.New(inner, faultstore.Config{Faults: map[string]faultstore.Fault{
		faultstore.OpStat: {FailFirst: 4, Class: objectstore.ErrThrottled},
	}})
	retries := 0
	p := objectstore.RetryPolicy{MaxAttempts: 8, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond,
		OnRetry: func(op string, err error, d time.Duration) {
			if !errors.Is(err, objectstore.ErrThrottled) {
				t.Errorf("retried a %v", err)
			}
			retries++
		}}
	var info objectstore.ObjectInfo
	err := p.Do(ctx, "stat", func(ctx context.Context) error {
		var err error
		info, err = fs.Stat(ctx, "k")
		return err
	})
	if err != nil || info.Size != 1 || retries != 4 {
		t.Fatalf("stat after throttling: %v, size %d, %d retries", err, info.Size, retries)
	}
}

// TestFailMidMultipart: an upload whose source fails after more than one
// part leaves no object and, on S3, no multipart upload behind.
func TestFailMidMultipart(t *testing.T) {
	const partSize = 5 << 20
	srv := testservers.StartVersityGW(t)
	srv.SetAWSEnv(t)
	bucket := srv.CreateBucket(t, "")
	opts := open.Default()
	opts.PartSize = partSize
	for _, u := range []string{
		"file://" + t.TempDir(),
		fmt.Sprintf("s3://%s/f?endpoint=%s&path_style=true", bucket, srv.Endpoint),
		fmt.Sprintf("minio://%s/%s/m?secure=false", srv.HostPort, bucket),
	} {
		inner, err := open.Open(context.Background(), u, opts)
		if err != nil {
			t.Fatal(err)
		}
		fs := faultstore.New(inner, faultstore.Config{FailPutAfterBytes: partSize + partSize/2})
		data := make([]byte, 3*partSize)
		_, err = fs.Put(context.Background(), "obj", bytes.NewReader(data), int64(len(data)), objectstore.PutOptions{})
		if !errors.Is(err, faultstore.ErrInjected) {
			t.Fatalf("%s: put with a failing source: %v", u, err)
		}
		if _, err := fs.Stat(context.Background(), "obj"); !errors.Is(err, objectstore.ErrNotFound) {
			t.Fatalf("%s: object visible after a failed upload: %v", u, err)
		}
		out, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil || len(out.Uploads) != 0 {
			t.Fatalf("%s: multipart uploads left: %v %v", u, len(out.Uploads), err)
		}
		inner.Close()
	}
}
