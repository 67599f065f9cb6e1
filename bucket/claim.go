package bucket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/stratalog/strata/objectstore"
)

// ErrForeignCluster: the bucket belongs to another cluster.
var ErrForeignCluster = errors.New("the object store holds another cluster's data")

// Claim is the content of cluster.json.
type Claim struct {
	Version     int    `json:"version"`
	ClusterID   string `json:"cluster_id"`
	ClaimedAtMs int64  `json:"claimed_at_ms"`
	ClaimedBy   int32  `json:"claimed_by"`
}

func claimKey(prefix string) string { return prefix + "/_cluster/cluster.json" }

// ReadClaim returns the bucket's claim; ok is false when it has none.
func ReadClaim(ctx context.Context, store objectstore.Store, prefix string) (c Claim, ok bool, err error) {
	rc, err := store.GetRange(ctx, claimKey(prefix), 0, -1)
	if errors.Is(err, objectstore.ErrNotFound) {
		return Claim{}, false, nil
	}
	if err != nil {
		return Claim{}, false, fmt.Errorf("reading the bucket's claim: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return Claim{}, false, fmt.Errorf("reading the bucket's claim: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil || c.ClusterID == "" {
		return Claim{}, false, fmt.Errorf("the bucket's claim %s is unreadable: %v", claimKey(prefix), err)
	}
	return c, true, nil
}

// ClaimFor makes sure the bucket belongs to clusterID: it claims an
// unclaimed bucket (write-if-absent, so of two clusters racing for a new
// bucket one wins) and refuses one claimed by another cluster with
// ErrForeignCluster, unless takeOver, which replaces the claim.
func ClaimFor(ctx context.Context, store objectstore.Store, prefix, clusterID string, node int32, takeOver bool) error {
	for attempt := 0; attempt < 3; attempt++ {
		c, ok, err := ReadClaim(ctx, store, prefix)
		if err != nil && !takeOver {
			return err
		}
		if ok && c.ClusterID == clusterID {
			return nil
		}
		if ok && !takeOver {
			return fmt.Errorf("%w: %s is claimed by cluster %s (claimed by node %d at %s), this node's cluster is %s; "+
				"restore that cluster with `strata restore`, point this node at another bucket or prefix, "+
				"or start it with --claim-bucket to take the bucket over",
				ErrForeignCluster, claimKey(prefix), c.ClusterID, c.ClaimedBy,
				time.UnixMilli(c.ClaimedAtMs).UTC().Format(time.RFC3339), clusterID)
		}
		body, _ := json.Marshal(Claim{Version: 1, ClusterID: clusterID, ClaimedAtMs: time.Now().UnixMilli(), ClaimedBy: node})
		_, err = store.Put(ctx, claimKey(prefix), bytes.NewReader(body), int64(len(body)), objectstore.PutOptions{IfAbsent: !ok && !takeOver})
		if errors.Is(err, objectstore.ErrPreconditionFailed) {
			continue // claimed meanwhile: read who won
		}
		if err != nil {
			return fmt.Errorf("claiming the bucket: %w", err)
		}
		return nil
	}
	return fmt.Errorf("claiming the bucket: it keeps changing")
}
