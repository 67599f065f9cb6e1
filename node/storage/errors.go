package storage

import "errors"

// Sentinel errors.
var (
	// ErrOffsetOutOfRange: the offset is below the log start offset or
	// above the log end offset.
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrClosed: the log or syncer has been closed.
	ErrClosed = errors.New("log closed")
	// ErrInvalidConfig: a Config setting is out of range.
	ErrInvalidConfig = errors.New("invalid storage config")
	// ErrBadAppend: the headers passed to Append do not describe the bytes.
	ErrBadAppend = errors.New("append headers do not match batches")
	// ErrLogFailed: an earlier write failed in a way that left the log in
	// an unknown state; the log refuses further appends until reopened.
	ErrLogFailed = errors.New("log failed")
	// ErrCorruptSegment: segment bytes that were valid when written no
	// longer parse.
	ErrCorruptSegment = errors.New("corrupt segment")
)
