package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/testservers"
)

func TestObjectStoreCheck(t *testing.T) {
	vgw := testservers.StartVersityGW(t)
	vgw.SetAWSEnv(t)
	bucket := vgw.CreateBucket(t, "")
	gcs := testservers.StartFakeGCS(t)
	gcs.SetEmulatorEnv(t)
	gbucket := gcs.CreateBucket(t, "")
	for _, u := range []string{
		"file://" + t.TempDir(),
		fmt.Sprintf("s3://%s/strata?endpoint=%s&path_style=true&region=%s", bucket, vgw.Endpoint, vgw.Region),
		fmt.Sprintf("minio://%s/%s/strata?secure=false", vgw.HostPort, bucket),
		fmt.Sprintf("gs://%s/strata", gbucket),
	} {
		for _, size := range []int64{0, 9 << 20} {
			var out bytes.Buffer
			if err := runObjectStoreCheck(context.Background(), &out, u, checkOptions{size: size}); err != nil {
				t.Fatalf("check %s (size %d): %v\n%s", u, size, err, out.String())
			}
			for _, want := range []string{"put ", "get ", "range read", "list", "put-if-absent", "delete", "all checks passed"} {
				if !strings.Contains(out.String(), want) {
					t.Fatalf("check %s output lacks %q:\n%s", u, want, out.String())
				}
			}
		}
	}
	// The probe is removed: the bucket is empty again.
	objs, err := vgw.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil || len(objs.Contents) != 0 {
		t.Fatalf("probe objects left: %d (%v)", len(objs.Contents), err)
	}
}

func TestObjectStoreCheckFailures(t *testing.T) {
	vgw := testservers.StartVersityGW(t)
	vgw.SetAWSEnv(t)
	var out bytes.Buffer
	err := runObjectStoreCheck(context.Background(), &out, fmt.Sprintf("s3://missing-bucket?endpoint=%s&path_style=true", vgw.Endpoint), checkOptions{size: 10})
	if !errors.Is(err, objectstore.ErrNotFound) || !strings.Contains(out.String(), "open            FAILED") || !strings.Contains(err.Error(), "missing-bucket") {
		t.Fatalf("missing bucket: %v\n%s", err, out.String())
	}
	out.Reset()
	err = runObjectStoreCheck(context.Background(), &out, "s3://bucket?bogus=1", checkOptions{})
	if !errors.Is(err, objectstore.ErrInvalid) || !strings.Contains(out.String(), "parse URL") {
		t.Fatalf("bad URL: %v\n%s", err, out.String())
	}
}

func TestObjectStoreCheckHelpShowsURLForms(t *testing.T) {
	cmd := newObjectStoreCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"check", "--help"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, form := range []string{"file:///abs/dir", "s3://bucket/prefix?region=R&endpoint=http://host:port&path_style=true", "gs://bucket/prefix", "minio://host:port/bucket/prefix?secure=false", "AWS_ACCESS_KEY_ID"} {
		if !strings.Contains(out.String(), form) {
			t.Fatalf("help lacks %q:\n%s", form, out.String())
		}
	}
}
