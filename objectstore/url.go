package objectstore

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// URLForms documents the object-store URL contract; `strata objectstore
// check --help` and docs/objectstore.md show the same text.
const URLForms = `Object-store URLs:
  file:///abs/dir
      A local directory (the embedded default). Objects are files under dir.
  s3://bucket/prefix?region=R&endpoint=http://host:port&path_style=true&sse=aws:kms&sse_kms_key_id=K
      AWS S3 or any S3-compatible store through aws-sdk-go-v2. Credentials and
      (without region=) the region come from the standard AWS chain:
      AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity,
      instance roles. endpoint= and path_style=true for S3-compatible stores;
      sse=AES256 or sse=aws:kms (with optional sse_kms_key_id=) to encrypt.
  gs://bucket/prefix
      Google Cloud Storage with application-default credentials;
      STORAGE_EMULATOR_HOST=host:port points it at an emulator.
  minio://host:port/bucket/prefix?secure=false&region=R   (also s3+minio://)
      MinIO or any S3-compatible store through minio-go; credentials from
      AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or MINIO_ACCESS_KEY/
      MINIO_SECRET_KEY). secure defaults to true (HTTPS).
The prefix is optional; every key is stored under it.`

// Location is a parsed object-store URL.
type Location struct {
	// Scheme is "file", "s3", "gs" or "minio" (s3+minio is minio).
	Scheme string
	// Dir is the absolute directory of a file:// store.
	Dir string
	// Bucket and Prefix for s3, gs and minio. Prefix is empty or ends in "/".
	Bucket string
	Prefix string
	// Host is host:port of a minio:// store.
	Host string
	// S3 and minio options.
	Region    string
	Endpoint  string // s3 only: custom endpoint URL
	PathStyle bool   // s3 only
	Secure    bool   // minio only: HTTPS
	SSE       string // s3 only: "", "AES256" or "aws:kms"
	SSEKMSKey string // s3 only: KMS key id for sse=aws:kms
}

// ParseURL parses an object-store URL in one of the forms of URLForms.
// Unknown schemes and query parameters and credentials embedded in the URL
// are errors wrapping ErrInvalid. Errors never echo the URL's query or
// userinfo (either may hold a secret): they name it by scheme, host and
// path only (Redact).
func ParseURL(raw string) (Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL
		}
		return Location{}, fmt.Errorf("%w: object-store URL: %v", ErrInvalid, err)
	}
	if u.User != nil {
		return Location{}, fmt.Errorf("%w: object-store URL %q carries credentials; use the AWS environment variables or credential chain instead", ErrInvalid, redact(u))
	}
	raw = redact(u)
	if u.Fragment != "" || u.Opaque != "" {
		return Location{}, fmt.Errorf("%w: object-store URL %q is not of the form scheme://...", ErrInvalid, raw)
	}
	q := u.Query()
	var loc Location
	switch strings.ToLower(u.Scheme) {
	case "file":
		loc.Scheme = "file"
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("%w: file URL %q: want file:///absolute/dir", ErrInvalid, raw)
		}
		if u.Path == "" || !filepath.IsAbs(u.Path) {
			return Location{}, fmt.Errorf("%w: file URL %q: directory must be absolute (file:///abs/dir)", ErrInvalid, raw)
		}
		loc.Dir = filepath.Clean(u.Path)
		err = takeParams(q)
	case "s3":
		loc.Scheme = "s3"
		if err = bucketAndPrefix(&loc, u.Host, u.Path); err != nil {
			break
		}
		loc.Region = q.Get("region")
		loc.Endpoint = q.Get("endpoint")
		if loc.Endpoint != "" {
			eu, perr := url.Parse(loc.Endpoint)
			if perr != nil || (eu.Scheme != "http" && eu.Scheme != "https") || eu.Host == "" || eu.User != nil || eu.RawQuery != "" {
				return Location{}, fmt.Errorf("%w: s3 endpoint= is not http(s)://host[:port]", ErrInvalid)
			}
		}
		if loc.PathStyle, err = boolParam(q, "path_style", false); err != nil {
			break
		}
		loc.SSE = q.Get("sse")
		loc.SSEKMSKey = q.Get("sse_kms_key_id")
		switch loc.SSE {
		case "", "AES256", "aws:kms":
		default:
			return Location{}, fmt.Errorf("%w: s3 sse= is neither AES256 nor aws:kms", ErrInvalid)
		}
		if loc.SSEKMSKey != "" && loc.SSE != "aws:kms" {
			return Location{}, fmt.Errorf("%w: sse_kms_key_id needs sse=aws:kms", ErrInvalid)
		}
		err = takeParams(q, "region", "endpoint", "path_style", "sse", "sse_kms_key_id")
	case "gs":
		loc.Scheme = "gs"
		if err = bucketAndPrefix(&loc, u.Host, u.Path); err != nil {
			break
		}
		err = takeParams(q)
	case "minio", "s3+minio":
		loc.Scheme = "minio"
		if u.Host == "" {
			return Location{}, fmt.Errorf("%w: minio URL %q: want minio://host:port/bucket/prefix", ErrInvalid, raw)
		}
		loc.Host = u.Host
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
		if err = bucketAndPrefix(&loc, bucket, prefix); err != nil {
			break
		}
		loc.Region = q.Get("region")
		if loc.Secure, err = boolParam(q, "secure", true); err != nil {
			break
		}
		err = takeParams(q, "region", "secure")
	case "":
		return Location{}, fmt.Errorf("%w: object-store URL %q has no scheme (want file://, s3://, gs:// or minio://)", ErrInvalid, raw)
	default:
		return Location{}, fmt.Errorf("%w: object-store URL scheme %q not supported (want file, s3, gs or minio)", ErrInvalid, u.Scheme)
	}
	if err != nil {
		return Location{}, fmt.Errorf("object-store URL %q: %w", raw, err)
	}
	return loc, nil
}

// String renders the location back as a URL.
func (l Location) String() string {
	switch l.Scheme {
	case "file":
		return (&url.URL{Scheme: "file", Path: l.Dir}).String()
	case "minio":
		u := url.URL{Scheme: "minio", Host: l.Host, Path: "/" + l.Bucket + "/" + l.Prefix}
		q := url.Values{}
		if !l.Secure {
			q.Set("secure", "false")
		}
		if l.Region != "" {
			q.Set("region", l.Region)
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	u := url.URL{Scheme: l.Scheme, Host: l.Bucket, Path: "/" + l.Prefix}
	q := url.Values{}
	for k, v := range map[string]string{"region": l.Region, "endpoint": l.Endpoint, "sse": l.SSE, "sse_kms_key_id": l.SSEKMSKey} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if l.PathStyle {
		q.Set("path_style", "true")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// BucketName names the bucket (or directory) for messages and metrics.
func (l Location) BucketName() string {
	if l.Scheme == "file" {
		return l.Dir
	}
	return l.Bucket
}

func bucketAndPrefix(loc *Location, bucket, prefix string) error {
	if bucket == "" {
		return fmt.Errorf("%w: missing bucket", ErrInvalid)
	}
	if len(bucket) < 3 || len(bucket) > 222 || strings.ContainsAny(bucket, "/\\ ?#") {
		return fmt.Errorf("%w: bucket name %q", ErrInvalid, bucket)
	}
	p, err := NormalizePrefix(prefix)
	if err != nil {
		return err
	}
	loc.Bucket, loc.Prefix = bucket, p
	return nil
}

func boolParam(q url.Values, name string, def bool) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: %s= is not a boolean", ErrInvalid, name)
	}
	return b, nil
}

// takeParams rejects any query parameter not in allowed, so typos fail
// loudly at start-up instead of being silently ignored.
func takeParams(q url.Values, allowed ...string) error {
	for k := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return fmt.Errorf("%w: unknown parameter %q", ErrInvalid, k)
		}
	}
	return nil
}

// redact renders u without userinfo, query or fragment.
func redact(u *url.URL) string {
	c := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.Opaque != "" {
		return u.Scheme + ":(opaque)"
	}
	return c.String()
}

// Redact renders an object-store URL for logs and errors: scheme, host and
// path, never its userinfo or query.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable object-store URL)"
	}
	return redact(u)
}
