package miniostore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/miniostore"
	"github.com/stratalog/strata/objectstore/storetest"
	"github.com/stratalog/strata/objectstore/testservers"
)

const partSize = 5 << 20

func TestConformance(t *testing.T) {
	srv := testservers.StartVersityGW(t)
	srv.SetAWSEnv(t)
	bucket := srv.CreateBucket(t, "")
	n := 0
	storetest.Run(t, func(t *testing.T) objectstore.Store {
		n++
		cfg := miniostore.Default()
		cfg.Host = srv.HostPort
		cfg.Secure = false
		cfg.Region = srv.Region
		cfg.Bucket = bucket
		cfg.Prefix = fmt.Sprintf("run-%d/", n)
		cfg.PartSize = partSize
		s, err := miniostore.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}, storetest.Options{
		PartSize: partSize,
		AfterCancel: func(t *testing.T, key string) {
			out, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
			if err != nil {
				t.Fatalf("list multipart uploads: %v", err)
			}
			if len(out.Uploads) != 0 {
				t.Fatalf("%d multipart uploads left after a cancelled put", len(out.Uploads))
			}
		},
	})
}
