package bucket

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/stratalog/strata/objectstore"
)

// MetaSource is what the uploader needs of the metadata store.
type MetaSource interface {
	// IsLeader reports whether this node is the metadata raft leader
	// (the controller): only it uploads.
	IsLeader() bool
	ExportSnapshot() (version uint64, data []byte, err error)
	Subscribe() (<-chan struct{}, func())
}

// Uploader writes a metadata snapshot to the store after every change
// batch while its node is the controller.
type Uploader struct {
	Store  objectstore.Store
	Prefix string
	Meta   MetaSource
	Log    *slog.Logger
	// Debounce gathers the changes of one batch (topic creation is a few
	// raft entries) into one snapshot.
	Debounce time.Duration
	// Keep is how many snapshots stay in the store.
	Keep int
	// RetryBackoff is the wait after a failed upload.
	RetryBackoff time.Duration

	// Uploaded counts snapshots written; Version is the newest.
	Uploaded atomic.Int64
	Version  atomic.Uint64
	Failures atomic.Int64
}

// Run uploads until ctx ends (runMetaUpload's body, owned by the node).
func (u *Uploader) Run(ctx context.Context) {
	ch, unsub := u.Meta.Subscribe()
	defer unsub()
	tick := time.NewTicker(5 * time.Second) // leadership changes without a state change
	defer tick.Stop()
	var done uint64
	sincePrune := 0
	backoff := u.RetryBackoff
	for {
		if u.Meta.IsLeader() {
			v, data, err := u.Meta.ExportSnapshot()
			if err == nil && v > done {
				rctx, cancel := context.WithTimeout(ctx, time.Minute)
				err = PutMetadata(rctx, u.Store, u.Prefix, v, data)
				cancel()
				if err == nil {
					done, backoff = v, u.RetryBackoff
					u.Uploaded.Add(1)
					u.Version.Store(v)
					sincePrune++
					if sincePrune >= 32 {
						sincePrune = 0
						pctx, cancel := context.WithTimeout(ctx, time.Minute)
						if _, err := PruneMetadata(pctx, u.Store, u.Prefix, u.Keep); err != nil && ctx.Err() == nil {
							u.Log.Warn("pruning metadata snapshots in the object store", "err", err)
						}
						cancel()
					}
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				u.Failures.Add(1)
				if backoff == u.RetryBackoff {
					u.Log.Warn("uploading the metadata snapshot; will retry", "err", err)
				}
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 30*time.Second)
				continue
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
			select {
			case <-ctx.Done():
				return
			case <-time.After(u.Debounce):
			}
		case <-tick.C:
		}
	}
}
