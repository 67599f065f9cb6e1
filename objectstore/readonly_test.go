package objectstore_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/filestore"
)

func TestReadOnlyRefusesWrites(t *testing.T) {
	ctx := context.Background()
	fs, err := filestore.Open(filestore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if _, err := fs.Put(ctx, "k", bytes.NewReader([]byte("v")), 1, objectstore.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	ro := objectstore.ReadOnly(fs)
	if _, err := ro.Put(ctx, "k2", bytes.NewReader([]byte("v")), 1, objectstore.PutOptions{}); !errors.Is(err, objectstore.ErrPermission) {
		t.Fatalf("Put through a read-only store: %v", err)
	}
	if err := ro.Delete(ctx, "k"); !errors.Is(err, objectstore.ErrPermission) {
		t.Fatalf("Delete through a read-only store: %v", err)
	}
	if _, err := fs.Stat(ctx, "k2"); !errors.Is(err, objectstore.ErrNotFound) {
		t.Fatalf("k2 written: %v", err)
	}
	if _, err := ro.Stat(ctx, "k"); err != nil {
		t.Fatalf("k deleted or unreadable: %v", err)
	}
}
