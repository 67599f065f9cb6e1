package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/filestore"
)

// The conformance suite runs against this backend in objectstore/open;
// these tests cover what only a directory has.

func TestStaleTempFilesSweptAtOpen(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, ".strata-tmp")
	os.MkdirAll(tmp, 0o755)
	stale, fresh := filepath.Join(tmp, "put-crashed"), filepath.Join(tmp, "put-inflight")
	os.WriteFile(stale, []byte("half an object"), 0o644)
	os.WriteFile(fresh, []byte("another writer"), 0o644)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	s, err := filestore.Open(filestore.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale temporary file survived Open: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("recent temporary file (maybe in use) was removed: %v", err)
	}
	page, err := s.List(context.Background(), objectstore.ListOptions{})
	if err != nil || len(page.Objects) != 0 {
		t.Fatalf("temporary files listed as objects: %+v %v", page, err)
	}
}

func TestKeysStayInsideTheDirectory(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "store")
	s, err := filestore.Open(filestore.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, key := range []string{"../outside", ".strata-tmp/x", ".strata-tmp", "a/../../outside"} {
		if _, err := s.Put(ctx, key, bytes.NewReader([]byte("x")), 1, objectstore.PutOptions{}); !errors.Is(err, objectstore.ErrInvalid) {
			t.Fatalf("put %q: %v", key, err)
		}
	}
	if _, err := os.Stat(filepath.Join(parent, "outside")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a key escaped the store directory")
	}
	// A key cannot be both an object and a "directory" of other keys.
	if _, err := s.Put(ctx, "a", bytes.NewReader([]byte("x")), 1, objectstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "a/b", bytes.NewReader([]byte("x")), 1, objectstore.PutOptions{}); !errors.Is(err, objectstore.ErrInvalid) {
		t.Fatalf("put under an object: %v", err)
	}
}

func TestRelativeDirRefused(t *testing.T) {
	if _, err := filestore.Open(filestore.Config{Dir: "relative"}); !errors.Is(err, objectstore.ErrInvalid) {
		t.Fatalf("relative dir: %v", err)
	}
}
