package objectstore

import "io"

// NewBody wraps the body of a GET response so that an error met while
// streaming it is classified like any other failure of the backend:
// classify maps the SDK's error to a Class, and an unrecognised one counts
// as transient (a connection dropped mid-body).
func NewBody(rc io.ReadCloser, backend, bucket, key string, classify func(error) Class) io.ReadCloser {
	return &body{rc: rc, backend: backend, bucket: bucket, key: key, classify: classify}
}

type body struct {
	rc                   io.ReadCloser
	backend, bucket, key string
	classify             func(error) Class
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		c := b.classify(err)
		if c == ErrUnknown {
			c = ErrTransient
		}
		err = &Error{Backend: b.backend, Bucket: b.bucket, Op: "get", Key: b.key, Class: c, Err: err}
	}
	return n, err
}

func (b *body) Close() error { return b.rc.Close() }
