package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// The error classes. Every error a Store returns wraps exactly one of them
// (or a context error), so callers branch with errors.Is.
var (
	// ErrNotFound: the object (or, at start-up, the bucket) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrPreconditionFailed: a write-if-absent found the key present.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrThrottled: the service asked the client to slow down (S3 SlowDown
	// or 503, GCS 429). Retried inside the backend before it surfaces.
	ErrThrottled = errors.New("throttled")
	// ErrPermission: credentials are missing, wrong or lack a permission.
	ErrPermission = errors.New("permission denied")
	// ErrTransient: a network failure or server error worth retrying.
	// Retried inside the backend before it surfaces.
	ErrTransient = errors.New("transient failure")
	// ErrInvalid: the request can never succeed as made: a malformed key,
	// a range past the end, a bad URL or configuration.
	ErrInvalid = errors.New("invalid request")
	// ErrCorrupt: the bytes read do not match the checksum the store keeps
	// for the object (the SDK's response validation): the object, or this
	// transfer of it, is corrupt. Not retried inside the backend: the
	// caller reads again and decides.
	ErrCorrupt = errors.New("stored checksum mismatch")
	// ErrUnknown: an error the backend could not classify.
	ErrUnknown = errors.New("unclassified error")
)

// Class is the class of an error, one of the sentinels above or nil for a
// context error.
type Class = error

// Error is the error every Store returns: what failed, where, and its class.
type Error struct {
	Backend string // "file", "s3", "gs", "minio"
	Bucket  string // bucket or directory
	Op      string // "put", "get", "stat", "list", "delete", "open", ...
	Key     string // object key, if the operation had one
	Class   Class  // one of the sentinels, or nil for context errors
	Err     error  // the underlying error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "objectstore %s bucket %q: %s", e.Backend, e.Bucket, e.Op)
	if e.Key != "" {
		fmt.Fprintf(&b, " %q", e.Key)
	}
	if e.Class != nil && (e.Err == nil || !errors.Is(e.Err, e.Class)) {
		fmt.Fprintf(&b, ": %v", e.Class)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap exposes both the class and the underlying error to errors.Is/As.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 2)
	if e.Class != nil {
		out = append(out, e.Class)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	return out
}

// ClassOf returns the class of err: one of the sentinels, context.Canceled
// or context.DeadlineExceeded, or ErrUnknown. nil for a nil error.
func ClassOf(err error) Class {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) && e.Class != nil {
		return e.Class
	}
	for _, c := range []error{ErrNotFound, ErrPreconditionFailed, ErrThrottled, ErrPermission, ErrTransient, ErrInvalid, ErrCorrupt} {
		if errors.Is(err, c) {
			return c
		}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	}
	return ErrUnknown
}

// ClassName is a short stable name of err's class, used as a metric label.
func ClassName(err error) string {
	switch ClassOf(err) {
	case nil:
		return "none"
	case ErrNotFound:
		return "not_found"
	case ErrPreconditionFailed:
		return "precondition"
	case ErrThrottled:
		return "throttled"
	case ErrPermission:
		return "permission"
	case ErrTransient:
		return "transient"
	case ErrInvalid:
		return "invalid"
	case ErrCorrupt:
		return "corrupt"
	case context.Canceled:
		return "canceled"
	case context.DeadlineExceeded:
		return "deadline"
	}
	return "unknown"
}

// Retryable reports whether err is worth another attempt: throttling and
// transient failures are, everything else is not.
func Retryable(err error) bool {
	c := ClassOf(err)
	return c == ErrThrottled || c == ErrTransient
}

// IsNetworkError reports whether err is a transport-level failure (refused
// or reset connection, timeout, unexpected EOF) that a backend should
// classify as ErrTransient. Context errors are not network errors.
func IsNetworkError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// ClassForHTTPStatus maps an HTTP status code to a class, for backends that
// see raw statuses. ok is false for statuses that carry no class.
func ClassForHTTPStatus(code int) (c Class, ok bool) {
	switch {
	case code == 404:
		return ErrNotFound, true
	case code == 412:
		return ErrPreconditionFailed, true
	case code == 429 || code == 503:
		return ErrThrottled, true
	case code == 401 || code == 403:
		return ErrPermission, true
	case code == 416 || code == 400:
		return ErrInvalid, true
	case code == 408 || code == 500 || code == 502 || code == 504:
		return ErrTransient, true
	}
	return nil, false
}

// ClassForS3Code maps an S3 error code (shared by S3, MinIO and other
// S3-compatible stores) to a class. ok is false for codes it does not know.
func ClassForS3Code(code string) (c Class, ok bool) {
	switch code {
	case "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchUpload":
		return ErrNotFound, true
	case "PreconditionFailed":
		return ErrPreconditionFailed, true
	case "SlowDown", "SlowDownWrite", "SlowDownRead", "Throttling", "ThrottlingException",
		"RequestLimitExceeded", "TooManyRequests", "TooManyRequestsException", "RequestThrottled",
		"ServiceUnavailable", "XMinioServerNotInitialized":
		return ErrThrottled, true
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken",
		"InvalidToken", "TokenRefreshRequired", "AllAccessDisabled", "AccountProblem":
		return ErrPermission, true
	case "InvalidRange":
		return ErrInvalid, true
	case "InternalError", "RequestTimeout", "RequestTimeTooSkewed", "OperationAborted",
		"ConditionalRequestConflict":
		// ConditionalRequestConflict: a racing conditional write was in
		// flight; a retry gets 412 or succeeds.
		return ErrTransient, true
	}
	return nil, false
}
