package filestore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
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

// The temporary file of a writer that was killed (a process of this host
// that no longer runs) is swept at the next Open at once, not an hour
// later; a live writer's is kept.
func TestKilledWritersTempFilesSweptAtOpen(t *testing.T) {
	dir := t.TempDir()
	if _, err := filestore.Open(filestore.Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	// A real child process that writes an object through the store and is
	// killed mid-write.
	if os.Getenv("FILESTORE_TEST_WRITER") != "" {
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriterHelper$")
	cmd.Env = append(os.Environ(), "FILESTORE_TEST_WRITER="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(stdout, buf); err != nil || string(buf) != "ready" {
		t.Fatalf("writer: %q %v", buf, err)
	}
	tmp := filepath.Join(dir, ".strata-tmp")
	ents, _ := os.ReadDir(tmp)
	if len(ents) != 1 {
		t.Fatalf("%d temporary files while the writer runs", len(ents))
	}
	if _, err := filestore.Open(filestore.Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
		t.Fatal("a live writer's temporary file was swept")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := filestore.Open(filestore.Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Fatalf("the killed writer's temporary file survived Open: %v", ents[0].Name())
	}
}

// TestKilledWriterHelper is the writer process of the test above: it puts
// an object whose body never ends.
func TestKilledWriterHelper(t *testing.T) {
	dir := os.Getenv("FILESTORE_TEST_WRITER")
	if dir == "" {
		t.Skip("helper process")
	}
	s, err := filestore.Open(filestore.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("half an object"))
		for len(mustReadDir(dir)) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		os.Stdout.Write([]byte("ready"))
	}()
	s.Put(context.Background(), "k", pr, objectstore.SizeUnknown, objectstore.PutOptions{})
}

func mustReadDir(dir string) []os.DirEntry {
	ents, _ := os.ReadDir(filepath.Join(dir, ".strata-tmp"))
	return ents
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
