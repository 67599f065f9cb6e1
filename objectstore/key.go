package objectstore

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is the longest key accepted, in bytes (S3 and GCS allow 1024
// including the bucket prefix).
const MaxKeyLen = 900

// ValidateKey checks that key is a clean relative slash-separated path that
// every backend stores under the same name and that cannot escape a prefix
// or a directory: valid UTF-8, no NUL or control characters, no backslash,
// no leading or trailing slash, no empty, "." or ".." segment. Errors wrap
// ErrInvalid.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalid)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key longer than %d bytes", ErrInvalid, MaxKeyLen)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("%w: key is not valid UTF-8", ErrInvalid)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fmt.Errorf("%w: key %q contains a control character or backslash", ErrInvalid, key)
		}
	}
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("%w: key %q has an empty segment or a leading or trailing slash", ErrInvalid, key)
		case ".", "..":
			return fmt.Errorf("%w: key %q has a %q segment", ErrInvalid, key, seg)
		}
	}
	return nil
}

// ValidatePrefix checks a listing prefix: empty, or a string that could
// begin a valid key (it may end in a slash or mid-segment).
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	trimmed := strings.TrimSuffix(prefix, "/")
	if trimmed == "" {
		return fmt.Errorf("%w: prefix %q", ErrInvalid, prefix)
	}
	if err := ValidateKey(trimmed); err != nil {
		// A prefix may end mid-segment with "." (e.g. "a/."), which a key
		// may not; nothing can match it except keys that are themselves
		// invalid, so rejecting it is harmless.
		return err
	}
	return nil
}

// NormalizePrefix turns a bucket prefix from a URL into the form backends
// prepend to keys: empty, or segments joined by "/" ending in "/".
func NormalizePrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if err := ValidateKey(p); err != nil {
		return "", fmt.Errorf("bucket prefix: %w", err)
	}
	return p + "/", nil
}
