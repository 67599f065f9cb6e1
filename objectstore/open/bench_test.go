package open_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/open"
	"github.com/stratalog/strata/objectstore/testservers"
)

const (
	benchObject = 64 << 20
	benchRange  = 16 << 20
)

// benchStores opens the file store and S3 against versitygw.
func benchStores(b *testing.B) map[string]objectstore.Store {
	vgw := testservers.StartVersityGW(b)
	vgw.SetAWSEnv(b)
	bucket := vgw.CreateBucket(b, "")
	out := map[string]objectstore.Store{}
	for name, u := range map[string]string{
		"file": "file://" + b.TempDir(),
		"s3":   fmt.Sprintf("s3://%s/bench?endpoint=%s&path_style=true", bucket, vgw.Endpoint),
	} {
		s, err := open.Open(context.Background(), u, open.Default())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		out[name] = s
	}
	return out
}

// parallel runs fn for stream 0..n-1 concurrently and fails on any error.
func parallel(b *testing.B, n int, fn func(i int) error) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkObjectStore measures upload and download of 64 MiB objects and
// 16 MiB range reads, single stream and 4 streams; bytes/s are totals.
// Run: go test -run XXX -bench ObjectStore -benchtime 3x ./objectstore/open
func BenchmarkObjectStore(b *testing.B) {
	data := bytes.Repeat([]byte("strata-cold-tier"), benchObject/16)
	ctx := context.Background()
	stores := benchStores(b)
	for _, name := range []string{"file", "s3"} {
		s := stores[name]
		for _, streams := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/upload64MiB/streams=%d", name, streams), func(b *testing.B) {
				b.SetBytes(int64(benchObject * streams))
				for n := 0; b.Loop(); n++ {
					parallel(b, streams, func(i int) error {
						_, err := s.Put(ctx, fmt.Sprintf("up/%d-%d", n, i), bytes.NewReader(data), benchObject, objectstore.PutOptions{})
						return err
					})
				}
			})
			for i := range streams {
				if _, err := s.Put(ctx, fmt.Sprintf("down/%d", i), bytes.NewReader(data), benchObject, objectstore.PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(fmt.Sprintf("%s/download64MiB/streams=%d", name, streams), func(b *testing.B) {
				b.SetBytes(int64(benchObject * streams))
				for b.Loop() {
					parallel(b, streams, func(i int) error {
						rc, err := s.GetRange(ctx, fmt.Sprintf("down/%d", i), 0, -1)
						if err != nil {
							return err
						}
						defer rc.Close()
						n, err := io.Copy(io.Discard, rc)
						if err == nil && n != benchObject {
							err = fmt.Errorf("read %d bytes", n)
						}
						return err
					})
				}
			})
			b.Run(fmt.Sprintf("%s/rangeRead16MiB/streams=%d", name, streams), func(b *testing.B) {
				b.SetBytes(int64(benchRange * streams))
				bufs := make([][]byte, streams)
				for i := range bufs {
					bufs[i] = make([]byte, benchRange)
				}
				for n := 0; b.Loop(); n++ {
					parallel(b, streams, func(i int) error {
						r, err := s.OpenReader(ctx, fmt.Sprintf("down/%d", i))
						if err != nil {
							return err
						}
						defer r.Close()
						off := int64((n+i)%3) * benchRange
						_, err = r.ReadAt(ctx, bufs[i], off)
						return err
					})
				}
			})
		}
	}
}
