package filestore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/filestore"
	"github.com/stratalog/strata/objectstore/storetest"
)

// TestConformance runs the shared suite and then checks that no run,
// including the cancelled and failed uploads, left a temporary file.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objectstore.Store {
		dir := t.TempDir()
		s, err := filestore.Open(filestore.Config{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			s.Close()
			entries, err := os.ReadDir(filepath.Join(dir, ".strata-tmp"))
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 0 {
				t.Errorf("%d temporary files left behind", len(entries))
			}
		})
		return s
	}, storetest.Options{})
}
