package s3store

import (
	"context"
	"errors"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/stratalog/strata/objectstore"
)

// classify maps an SDK error to an objectstore class; nil for context
// errors.
func classify(err error) objectstore.Class {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	for _, c := range []error{objectstore.ErrInvalid, objectstore.ErrPreconditionFailed, objectstore.ErrNotFound} {
		if errors.Is(err, c) {
			return c
		}
	}
	// The SDK's response checksum validation (its error type is not
	// exported): the body does not match the object's stored CRC.
	if strings.Contains(err.Error(), "checksum did not match") {
		return objectstore.ErrCorrupt
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if c, ok := objectstore.ClassForS3Code(ae.ErrorCode()); ok {
			return c
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		if c, ok := objectstore.ClassForHTTPStatus(re.Response.StatusCode); ok {
			return c
		}
		if re.Response.StatusCode == 409 {
			return objectstore.ErrTransient
		}
	}
	var ce interface{ CanceledError() bool }
	if errors.As(err, &ce) && ce.CanceledError() {
		return nil
	}
	if objectstore.IsNetworkError(err) {
		return objectstore.ErrTransient
	}
	return objectstore.ErrUnknown
}
