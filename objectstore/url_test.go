package objectstore

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	cases := []struct {
		in   string
		want Location
	}{
		{"file:///var/lib/strata/objects", Location{Scheme: "file", Dir: "/var/lib/strata/objects"}},
		{"file:///tmp/x/../y/", Location{Scheme: "file", Dir: "/tmp/y"}},
		{"s3://bucket", Location{Scheme: "s3", Bucket: "bucket"}},
		{"s3://bucket/a/b/?region=eu-west-1", Location{Scheme: "s3", Bucket: "bucket", Prefix: "a/b/", Region: "eu-west-1"}},
		{"s3://bkt/p?endpoint=http://127.0.0.1:9000&path_style=true&sse=aws:kms&sse_kms_key_id=k1",
			Location{Scheme: "s3", Bucket: "bkt", Prefix: "p/", Endpoint: "http://127.0.0.1:9000", PathStyle: true, SSE: "aws:kms", SSEKMSKey: "k1"}},
		{"gs://bucket/prefix", Location{Scheme: "gs", Bucket: "bucket", Prefix: "prefix/"}},
		{"minio://host:9000/bucket/pre?secure=false", Location{Scheme: "minio", Host: "host:9000", Bucket: "bucket", Prefix: "pre/"}},
		{"s3+minio://host:9000/bucket", Location{Scheme: "minio", Host: "host:9000", Bucket: "bucket", Secure: true}},
	}
	for _, c := range cases {
		got, err := ParseURL(c.in)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", c.in, err)
		}
		if got != c.want {
			t.Fatalf("ParseURL(%q) = %+v, want %+v", c.in, got, c.want)
		}
		// String round-trips.
		again, err := ParseURL(got.String())
		if err != nil || again != got {
			t.Fatalf("round trip of %q via %q: %+v, %v", c.in, got.String(), again, err)
		}
	}
	for _, bad := range []string{
		"", "bucket/prefix", "ftp://x", "file://relative", "file:rel", "s3://", "s3://ab",
		"s3://b/../x", "s3://bucket?region=x&bogus=1", "s3://bucket?path_style=maybe",
		"s3://bucket?endpoint=ftp://x", "s3://bucket?sse=des", "s3://bucket?sse_kms_key_id=k",
		"s3://user:pass@bucket", "gs://bucket?region=x", "minio:///bucket", "minio://host:1/",
		"minio://host:1/bucket?secure=perhaps", "s3://bucket/a//b",
	} {
		if _, err := ParseURL(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseURL(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// No error of the parser echoes a secret from the query or userinfo.
func TestParseURLErrorsRedacted(t *testing.T) {
	for _, bad := range []string{
		"s3://bucket/p?region=r&secret_access_key=SECRET123",
		"s3://bucket?sse=SECRET123",
		"s3://bucket?endpoint=ftp://x&token=SECRET123",
		"s3://bucket?endpoint=http://u:SECRET123@h:1",
		"s3://user:SECRET123@bucket/p",
		"minio://host:1/bucket?secure=perhaps&key=SECRET123",
		"gs://bucket?x=SECRET123",
		"file:///dir?x=SECRET123",
		"s3://bucket/%zz?k=SECRET123",
		"s3://b\x7f?k=SECRET123",
	} {
		_, err := ParseURL(bad)
		if err == nil {
			t.Fatalf("ParseURL(%q) accepted", bad)
		}
		if strings.Contains(err.Error(), "SECRET123") {
			t.Errorf("ParseURL(%q) error echoes the secret: %v", bad, err)
		}
		if r := Redact(bad); strings.Contains(r, "SECRET123") {
			t.Errorf("Redact(%q) = %q", bad, r)
		}
	}
}

func TestValidateKey(t *testing.T) {
	for _, k := range []string{"a", "a/b/c", "topic-0/00000000000000000042.log", "ünïcode/ok", "a.b/.hidden"} {
		if err := ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q): %v", k, err)
		}
	}
	for _, k := range []string{"", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", "x\x00", "x\ny", `a\b`, "\xff", string(make([]byte, MaxKeyLen+1))} {
		if err := ValidateKey(k); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateKey(%q) = %v, want ErrInvalid", k, err)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"s3://b/p?region=r", "minio://h:1/b/p", "file:///x", "gs://b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseURL(s)
		if err != nil {
			return
		}
		if _, err := ParseURL(loc.String()); err != nil {
			t.Fatalf("%q parsed to %+v whose String %q does not parse: %v", s, loc, loc.String(), err)
		}
	})
}
