package s3store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/s3store"
	"github.com/stratalog/strata/objectstore/storetest"
	"github.com/stratalog/strata/objectstore/testservers"
)

const partSize = s3store.MinPartSize

func TestConformance(t *testing.T) {
	srv := testservers.StartVersityGW(t)
	bucket := srv.CreateBucket(t, "")
	n := 0
	newStore := func(t *testing.T) objectstore.Store {
		n++
		cfg := s3store.Default()
		cfg.Bucket = bucket
		cfg.Prefix = fmt.Sprintf("run-%d/", n)
		cfg.Region = srv.Region
		cfg.Endpoint = srv.Endpoint
		cfg.PathStyle = true
		cfg.PartSize = partSize
		cfg.Credentials = credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")
		s, err := s3store.New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	storetest.Run(t, newStore, storetest.Options{
		PartSize: partSize,
		AfterCancel: func(t *testing.T, key string) {
			out, err := srv.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
			if err != nil {
				t.Fatalf("list multipart uploads: %v", err)
			}
			if len(out.Uploads) != 0 {
				t.Fatalf("%d multipart uploads left after a cancelled put, first %s", len(out.Uploads), aws.ToString(out.Uploads[0].Key))
			}
		},
	})
}
