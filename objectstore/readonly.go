package objectstore

import (
	"context"
	"errors"
	"io"
)

// errReadOnly is the cause of every write to a ReadOnly store.
var errReadOnly = errors.New("the store is read-only here (a read replica never writes to the bucket it follows)")

// ReadOnly wraps s so that Put and Delete fail with ErrPermission and
// touch nothing: what a read replica is given of its primary's bucket.
func ReadOnly(s Store) Store { return readOnly{s} }

type readOnly struct{ Store }

func (r readOnly) Put(_ context.Context, key string, _ io.Reader, _ int64, _ PutOptions) (ObjectInfo, error) {
	return ObjectInfo{}, &Error{Backend: "read-only", Op: "put", Key: key, Class: ErrPermission, Err: errReadOnly}
}

func (r readOnly) Delete(_ context.Context, key string) error {
	return &Error{Backend: "read-only", Op: "delete", Key: key, Class: ErrPermission, Err: errReadOnly}
}
