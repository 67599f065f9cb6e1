package tiering

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidConfig: a Config field is out of range.
var ErrInvalidConfig = errors.New("invalid tiering config")

// Config tunes the tiering manager of one broker.
type Config struct {
	// Prefix is the key prefix of all tiered data in the store.
	Prefix string
	// CacheDir holds the cold-read chunk cache. It is emptied at start:
	// chunks are only a cache of immutable objects.
	CacheDir string
	// CacheBytes bounds the chunk cache on disk (LRU by bytes).
	CacheBytes int64
	// ChunkBytes is the size of one ranged GET of a remote segment and of
	// one cache file.
	ChunkBytes int64
	// ReadAheadChunks is how many chunks past the one being read are
	// fetched ahead for a sequential reader.
	ReadAheadChunks int
	// UploadWorkers bounds concurrent segment uploads (one per partition
	// at a time).
	UploadWorkers int
	// UploadBytesPerSec caps upload bandwidth; 0 is unlimited.
	UploadBytesPerSec int64
	// FetchWorkers bounds concurrent ranged GETs of cold reads.
	FetchWorkers int
	// FetchBytesPerSec caps cold-read download bandwidth; 0 is unlimited.
	FetchBytesPerSec int64
	// Interval is how often each partition's plan is recomputed.
	Interval time.Duration
	// SyncInterval is how often a follower re-reads a partition's manifest
	// from the store (a new leader always reads it before it acts).
	SyncInterval time.Duration
	// RetryBackoff is the first wait after a failed upload or delete; it
	// doubles per failure up to MaxRetryBackoff.
	RetryBackoff, MaxRetryBackoff time.Duration
	// OrphanGrace is how old an unreferenced object must be before the
	// garbage collector deletes it (an upload in flight is younger).
	OrphanGrace time.Duration
	// GCInterval is how often each partition's orphans are collected.
	GCInterval time.Duration
	// RequestTimeout bounds one object-store call.
	RequestTimeout time.Duration
	// UploadStallTimeout is how long an upload may send no bytes before
	// the partition reports it stalled (strata_tier_upload_failing, long
	// before RequestTimeout gives up on it).
	UploadStallTimeout time.Duration
	// NodeID is recorded in manifest entries as their uploader.
	NodeID int32
	// UploadMaxInterval, when positive, is the roll interval of tiered
	// logs (storage.Config.RollInterval, set by the node): leaders record
	// each instant's offset once uploaded, write a progress object once
	// per interval and report the copy lag. 0 turns it off.
	UploadMaxInterval time.Duration
	// ReadOnly makes the manager a read replica's: it never uploads,
	// deletes or collects anything in the store (the node also hands it a
	// store that refuses writes), syncs every partition's manifest from
	// the store as a follower does, and follows the primary's progress
	// objects every FollowInterval to sync the partitions that moved and
	// to report how far behind it is.
	ReadOnly       bool
	FollowInterval time.Duration
}

// Default returns the defaults: 8 MiB chunks with 4 chunks of read-ahead,
// a 1 GiB cache, 2 upload workers and 8 fetch workers.
//
// 8 MiB chunks: an S3 GET costs a first-byte latency of tens of
// milliseconds, and at ~100 MB/s per stream an 8 MiB body takes ~80 ms, so
// one stream already spends most of its time moving data, and 4 chunks in
// flight keep a replaying consumer at the store's bandwidth; it is also 128
// GETs per GiB replayed, and small enough that a cache of 1 GiB holds the
// working set of 30 concurrent replays.
func Default() Config {
	return Config{
		Prefix:          "tier",
		CacheBytes:      1 << 30,
		ChunkBytes:      8 << 20,
		ReadAheadChunks: 4,
		UploadWorkers:   2,
		FetchWorkers:    8,
		Interval:        time.Second,
		SyncInterval:    30 * time.Second,
		RetryBackoff:    time.Second,
		MaxRetryBackoff: time.Minute,
		OrphanGrace:     time.Hour,
		GCInterval:      time.Hour,
		RequestTimeout:  2 * time.Minute,

		UploadStallTimeout: 15 * time.Second,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.Prefix == "":
		return fmt.Errorf("%w: empty Prefix", ErrInvalidConfig)
	case c.CacheDir == "":
		return fmt.Errorf("%w: empty CacheDir", ErrInvalidConfig)
	case c.ChunkBytes < 64<<10:
		return fmt.Errorf("%w: ChunkBytes %d below 64 KiB", ErrInvalidConfig, c.ChunkBytes)
	case c.CacheBytes < 2*c.ChunkBytes*int64(1+c.ReadAheadChunks):
		return fmt.Errorf("%w: CacheBytes %d below twice a reader's chunks (%d)", ErrInvalidConfig, c.CacheBytes, 2*c.ChunkBytes*int64(1+c.ReadAheadChunks))
	case c.ReadAheadChunks < 0:
		return fmt.Errorf("%w: negative ReadAheadChunks", ErrInvalidConfig)
	case c.UploadWorkers < 1 || c.FetchWorkers < 1:
		return fmt.Errorf("%w: UploadWorkers and FetchWorkers must be >= 1", ErrInvalidConfig)
	case c.UploadBytesPerSec < 0 || c.FetchBytesPerSec < 0:
		return fmt.Errorf("%w: negative rate limit", ErrInvalidConfig)
	case c.ReadOnly && c.FollowInterval <= 0:
		return fmt.Errorf("%w: a read-only manager needs a positive FollowInterval", ErrInvalidConfig)
	case c.UploadMaxInterval < 0:
		return fmt.Errorf("%w: negative UploadMaxInterval", ErrInvalidConfig)
	case c.SyncInterval <= 0:
		return fmt.Errorf("%w: SyncInterval must be positive", ErrInvalidConfig)
	case c.Interval <= 0 || c.RetryBackoff <= 0 || c.MaxRetryBackoff < c.RetryBackoff:
		return fmt.Errorf("%w: Interval, RetryBackoff and MaxRetryBackoff must be positive and ordered", ErrInvalidConfig)
	case c.OrphanGrace <= 0 || c.GCInterval <= 0 || c.RequestTimeout <= 0 || c.UploadStallTimeout <= 0:
		return fmt.Errorf("%w: OrphanGrace, GCInterval, RequestTimeout and UploadStallTimeout must be positive", ErrInvalidConfig)
	}
	return nil
}
