package bucket

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/filestore"
)

func fileStore(t *testing.T) objectstore.Store {
	t.Helper()
	s, err := filestore.Open(filestore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestClaim(t *testing.T) {
	ctx := context.Background()
	s := fileStore(t)
	if _, ok, err := ReadClaim(ctx, s, "tier"); ok || err != nil {
		t.Fatalf("claim of an empty bucket: %v, %v", ok, err)
	}
	if err := ClaimFor(ctx, s, "tier", "cluster-a", 1, false); err != nil {
		t.Fatal(err)
	}
	// The owner again: fine.
	if err := ClaimFor(ctx, s, "tier", "cluster-a", 2, false); err != nil {
		t.Fatal(err)
	}
	err := ClaimFor(ctx, s, "tier", "cluster-b", 1, false)
	if !errors.Is(err, ErrForeignCluster) || !strings.Contains(err.Error(), "cluster-a") || !strings.Contains(err.Error(), "--claim-bucket") {
		t.Fatalf("foreign claim: %v", err)
	}
	// Another prefix is another bucket.
	if err := ClaimFor(ctx, s, "other", "cluster-b", 1, false); err != nil {
		t.Fatal(err)
	}
	if err := ClaimFor(ctx, s, "tier", "cluster-b", 1, true); err != nil {
		t.Fatalf("take-over: %v", err)
	}
	if c, ok, err := ReadClaim(ctx, s, "tier"); !ok || err != nil || c.ClusterID != "cluster-b" {
		t.Fatalf("claim after take-over: %+v, %v, %v", c, ok, err)
	}
}

func TestMetadataSnapshots(t *testing.T) {
	ctx := context.Background()
	s := fileStore(t)
	if _, _, err := LatestMetadata(ctx, s, "tier"); !errors.Is(err, ErrNoMetadata) {
		t.Fatalf("empty bucket: %v", err)
	}
	for v := uint64(1); v <= 20; v++ {
		if err := PutMetadata(ctx, s, "tier", v, []byte{byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	// A second writer of a version (a deposed controller) is refused
	// without an error, and the first content stays.
	if err := PutMetadata(ctx, s, "tier", 20, []byte("other")); err != nil {
		t.Fatal(err)
	}
	v, data, err := LatestMetadata(ctx, s, "tier")
	if err != nil || v != 20 || len(data) != 1 || data[0] != 20 {
		t.Fatalf("latest = %d %q %v", v, data, err)
	}
	n, err := PruneMetadata(ctx, s, "tier", 16)
	if err != nil || n != 4 {
		t.Fatalf("pruned %d, %v", n, err)
	}
	vs, _ := MetadataVersions(ctx, s, "tier")
	if len(vs) != 16 || vs[0] != 5 {
		t.Fatalf("versions after prune: %v", vs)
	}
}
