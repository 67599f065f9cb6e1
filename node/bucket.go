package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stratalog/strata/bucket"
	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/open"
	"github.com/stratalog/strata/tiering"
)

// claimBucket makes sure the object store belongs to this node's cluster
// before anything is uploaded to it (bucket.ClaimFor): a fresh cluster
// started on a bucket that holds another's data is refused, unless
// --claim-bucket.
func (n *Node) claimBucket(ctx context.Context, store objectstore.Store) error {
	id := n.meta.KnownClusterID()
	if id == "" {
		n.log.Warn("cluster id not known yet; the object store's claim is not checked")
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := bucket.ClaimFor(cctx, store, tiering.Default().Prefix, id, n.cfg.NodeID, n.cfg.ClaimBucket); err != nil {
		return fmt.Errorf("object-store: %w", err)
	}
	return nil
}

// newMetaUploader builds the uploader of metadata snapshots (run by
// runMetaUpload while this node is the controller).
func (n *Node) newMetaUploader(store objectstore.Store) (*bucket.Uploader, error) {
	u := &bucket.Uploader{
		Store: store, Prefix: tiering.Default().Prefix, Meta: n.meta, Log: n.log.With("component", "bucket"),
		Debounce: 100 * time.Millisecond, Keep: 16, RetryBackoff: time.Second,
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_objectstore_available",
			Help: "1 while the object store answers, 0 while the node runs degraded without it (local data served, uploads and cold reads wait)."},
			func() float64 {
				if down, _, _ := n.storeHealth.state(); down {
					return 0
				}
				return 1
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_bucket_metadata_uploads_total",
			Help: "Metadata snapshots this node wrote to the object store as controller (one per change batch)."},
			func() float64 { return float64(u.Uploaded.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "strata_bucket_metadata_upload_errors_total",
			Help: "Metadata snapshot uploads that failed (retried)."},
			func() float64 { return float64(u.Failures.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "strata_bucket_metadata_version",
			Help: "Metadata version (raft index) of the newest snapshot this node wrote to the object store."},
			func() float64 { return float64(u.Version.Load()) }),
	} {
		if err := n.metrics.reg.Register(c); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// runMetaUpload keeps the store's copy of the metadata current; it stops
// when the node drains.
func (n *Node) runMetaUpload() {
	defer n.loops.Done()
	if n.metaUp == nil {
		return // a read replica writes nothing to the bucket
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-n.drain
		cancel()
	}()
	n.metaUp.Run(ctx)
}

// checkFreshBucket refuses, before anything is written, to start a new
// single-node cluster (no metadata in the data dir yet) on an object store
// another cluster has claimed: that is a lost disk to restore
// (--restore-from-bucket), not a cluster to start over. A clustered node
// with an empty data dir may be joining the cluster that owns the bucket;
// claimBucket checks it once the cluster ID is known.
func checkFreshBucket(ctx context.Context, cfg Config) error {
	if cfg.ClaimBucket || cfg.ReadReplicaOf != "" {
		return nil
	}
	if entries, err := os.ReadDir(filepath.Join(cfg.DataDir, "meta")); err == nil && len(entries) > 0 {
		return nil
	}
	u, err := cfg.objectStoreURL()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	store, err := open.Open(cctx, u, open.Default())
	if err != nil {
		if storeUnreachable(err) {
			return nil // checked once the store answers (claimOnce)
		}
		return fmt.Errorf("object-store: %w", err)
	}
	defer store.Close()
	if cfg.WrapObjectStore != nil {
		store = cfg.WrapObjectStore(store)
	}
	c, ok, err := bucket.ReadClaim(cctx, store, tiering.Default().Prefix)
	if err != nil || !ok {
		return err
	}
	return fmt.Errorf("object-store: %w: it belongs to cluster %s (claimed by node %d at %s) and this data directory holds no node: "+
		"rebuild the node from it with `strata restore --data-dir %s` or `strata node --restore-from-bucket`, "+
		"point this node at another bucket or prefix, or start with --claim-bucket to start a new cluster there",
		bucket.ErrForeignCluster, c.ClusterID, c.ClaimedBy, time.UnixMilli(c.ClaimedAtMs).UTC().Format(time.RFC3339), cfg.DataDir)
}
