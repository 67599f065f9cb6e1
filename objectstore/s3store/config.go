package s3store

import (
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/stratalog/strata/objectstore"
)

// MinPartSize is S3's smallest part (except the last).
const MinPartSize = 5 << 20

// Config configures an S3 store.
type Config struct {
	Bucket string
	// Prefix is prepended to every key: empty or ending in "/".
	Prefix string
	// Region; empty takes the chain's region, else us-east-1.
	Region string
	// Endpoint is a custom endpoint URL for S3-compatible stores.
	Endpoint  string
	PathStyle bool
	// SSE is "", "AES256" or "aws:kms"; SSEKMSKeyID optionally names the key.
	SSE         string
	SSEKMSKeyID string
	// PartSize is the multipart part size and the largest single PutObject.
	PartSize int64
	// PartConcurrency is the number of parts uploaded at once per Put.
	PartConcurrency int
	Retry           objectstore.RetryPolicy
	// Credentials overrides the standard chain (tests, embedding).
	Credentials aws.CredentialsProvider
	HTTPClient  *http.Client
	// SkipBucketCheck skips the HeadBucket probe in New.
	SkipBucketCheck bool
}

// Default returns the defaults: 8 MiB parts, 4 in flight.
func Default() Config {
	return Config{PartSize: 8 << 20, PartConcurrency: 4, Retry: objectstore.DefaultRetryPolicy()}
}

func (c *Config) ensureDefaults() {
	d := Default()
	if c.PartSize == 0 {
		c.PartSize = d.PartSize
	}
	if c.PartConcurrency == 0 {
		c.PartConcurrency = d.PartConcurrency
	}
	c.Retry = c.Retry.WithDefaults()
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.Bucket == "" {
		return fmt.Errorf("%w: s3: missing bucket", objectstore.ErrInvalid)
	}
	if c.Prefix != "" {
		if p, err := objectstore.NormalizePrefix(c.Prefix); err != nil || p != c.Prefix {
			return fmt.Errorf("%w: s3: prefix %q must be clean and end in /", objectstore.ErrInvalid, c.Prefix)
		}
	}
	if c.PartSize < MinPartSize || c.PartSize > 5<<30 {
		return fmt.Errorf("%w: s3: part size %d outside [5 MiB, 5 GiB]", objectstore.ErrInvalid, c.PartSize)
	}
	if c.PartConcurrency < 1 || c.PartConcurrency > 64 {
		return fmt.Errorf("%w: s3: part concurrency %d outside [1, 64]", objectstore.ErrInvalid, c.PartConcurrency)
	}
	switch c.SSE {
	case "", "AES256", "aws:kms":
	default:
		return fmt.Errorf("%w: s3: sse %q", objectstore.ErrInvalid, c.SSE)
	}
	return c.Retry.Validate()
}
