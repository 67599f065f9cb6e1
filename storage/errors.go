package storage

import (
	"errors"
	"fmt"
	"syscall"
)

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
	// ErrLogFailed: an earlier write or fsync failed in a way that left the
	// log in an unknown state; the log refuses further appends until
	// Recover (or a reopen) brings it back to its last synced state.
	ErrLogFailed = errors.New("log failed")
	// ErrCorruptSegment: segment bytes that were valid when written no
	// longer parse or verify. Reads of a damaged range wrap it.
	ErrCorruptSegment = errors.New("corrupt segment")
	// ErrStorage: the local disk refused an operation for a reason that
	// may pass (no space, quota, too many open files, I/O error, failed
	// fsync). Clients should retry; the node maps it to
	// KAFKA_STORAGE_ERROR.
	ErrStorage = errors.New("storage error")
)

// storageErrnos are the errno values classified as ErrStorage.
var storageErrnos = []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EMFILE, syscall.ENFILE, syscall.EIO, syscall.EROFS}

// IsStorageErrno reports whether err is (or wraps) an errno that means the
// local disk, not the request, is at fault.
func IsStorageErrno(err error) bool {
	for _, e := range storageErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// classify wraps err with ErrStorage when it is a disk-level failure, and
// always names the operation and path. It returns nil for nil.
func classify(op, path string, err error) error {
	if err == nil {
		return nil
	}
	if IsStorageErrno(err) && !errors.Is(err, ErrStorage) {
		return fmt.Errorf("%s %s: %w: %w", op, path, ErrStorage, err)
	}
	return fmt.Errorf("%s %s: %w", op, path, err)
}
