package open_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/open"
	"github.com/stratalog/strata/objectstore/storetest"
	"github.com/stratalog/strata/objectstore/testservers"
)

// partSize is S3's minimum, so the multipart paths run with small objects.
const partSize = 5 << 20

// backend is one row of the conformance table: how to reach a fresh
// store of that kind through the URL contract.
type backend struct {
	name string
	// setup starts the server and returns a function giving a fresh URL
	// per subtest, and an optional leftover check after a cancelled put.
	setup func(t *testing.T) (newURL func(t *testing.T) string, afterCancel func(t *testing.T, key string))
}

func backends() []backend {
	return []backend{
		{"file", func(t *testing.T) (func(*testing.T) string, func(*testing.T, string)) {
			return func(t *testing.T) string {
				dir := t.TempDir()
				t.Cleanup(func() {
					entries, err := os.ReadDir(filepath.Join(dir, ".strata-tmp"))
					if err != nil || len(entries) != 0 {
						t.Errorf("temporary files left behind: %d (%v)", len(entries), err)
					}
				})
				return "file://" + dir
			}, nil
		}},
		{"s3", func(t *testing.T) (func(*testing.T) string, func(*testing.T, string)) {
			srv := testservers.StartVersityGW(t)
			srv.SetAWSEnv(t)
			bucket := srv.CreateBucket(t, "")
			n := 0
			return func(t *testing.T) string {
				n++
				return fmt.Sprintf("s3://%s/run-%d?region=%s&endpoint=%s&path_style=true", bucket, n, srv.Region, srv.Endpoint)
			}, noMultipartLeft(srv, bucket)
		}},
		{"minio", func(t *testing.T) (func(*testing.T) string, func(*testing.T, string)) {
			srv := testservers.StartVersityGW(t)
			srv.SetAWSEnv(t)
			bucket := srv.CreateBucket(t, "")
			n := 0
			return func(t *testing.T) string {
				n++
				return fmt.Sprintf("minio://%s/%s/run-%d?secure=false&region=%s", srv.HostPort, bucket, n, srv.Region)
			}, noMultipartLeft(srv, bucket)
		}},
		{"gs", func(t *testing.T) (func(*testing.T) string, func(*testing.T, string)) {
			srv := testservers.StartFakeGCS(t)
			srv.SetEmulatorEnv(t)
			bucket := srv.CreateBucket(t, "")
			n := 0
			return func(t *testing.T) string {
				n++
				return fmt.Sprintf("gs://%s/run-%d", bucket, n)
			}, nil
		}},
	}
}

func noMultipartLeft(srv *testservers.S3Server, bucket string) func(*testing.T, string) {
	return func(t *testing.T, key string) {
		out, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatalf("list multipart uploads: %v", err)
		}
		if len(out.Uploads) != 0 {
			t.Fatalf("%d multipart uploads left after a cancelled put of %s", len(out.Uploads), key)
		}
	}
}

// TestConformance runs the one conformance suite against every backend,
// each reached through Open and its URL.
func TestConformance(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			newURL, afterCancel := b.setup(t)
			opts := open.Default()
			opts.PartSize = partSize
			storetest.Run(t, func(t *testing.T) objectstore.Store {
				s, err := open.Open(context.Background(), newURL(t), opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}, storetest.Options{PartSize: partSize, AfterCancel: afterCancel})
		})
	}
}
