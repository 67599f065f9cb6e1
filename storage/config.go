package storage

import (
	"fmt"
	"math"
	"time"
)

// Config tunes one partition's log. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// SegmentBytes: roll before an append would make the active segment
	// exceed this size.
	SegmentBytes int64
	// SegmentMs: roll when the active segment's first batch was appended
	// longer ago than this; 0 never rolls on time.
	SegmentMs time.Duration
	// RollInterval, when positive, rolls the active segment at every
	// multiple of it in wall-clock time (Unix epoch based) if it holds
	// records appended before that instant, and remembers the offset at
	// which each such instant fell (TickBoundary): the cold tier's copy is
	// then complete up to a known instant, the same across partitions.
	RollInterval time.Duration
	// RetentionMs: delete whole segments whose newest timestamp is older
	// than this; negative keeps them forever.
	RetentionMs time.Duration
	// RetentionBytes: delete the oldest whole segments while the log
	// would still be at least this big without them; negative means no
	// size limit.
	RetentionBytes int64
	// Compacted: the log is compacted (cleanup.policy=compact), so its
	// batches may leave offset gaps (the cleaner removes records and
	// whole batches; a follower copies a compacted leader's log as it
	// is). Without it, and unless the log was ever compacted, a gap
	// between batches is damage.
	Compacted bool
	// IndexIntervalBytes: bytes of batches between offset-index entries.
	IndexIntervalBytes int
	// Fdatasync, if set, replaces the fdatasync system call for the
	// log's data files; tests use it to inject fsync failures. It is read
	// once, at Open.
	Fdatasync func(fd int) error
}

const minSegmentBytes = 1024

// DefaultConfig returns Kafka's defaults: 1 GiB segments rolled at least
// weekly, 7 days of retention, no size limit, an index entry every 4 KiB.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * time.Hour,
		RetentionMs:        7 * 24 * time.Hour,
		RetentionBytes:     -1,
		IndexIntervalBytes: 4096,
	}
}

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < minSegmentBytes || c.SegmentBytes > math.MaxInt32:
		// Index positions are uint32 and must stay below 2 GiB.
		return fmt.Errorf("%w: SegmentBytes %d not in [%d, %d]", ErrInvalidConfig, c.SegmentBytes, minSegmentBytes, math.MaxInt32)
	case c.SegmentMs < 0:
		return fmt.Errorf("%w: SegmentMs %v is negative", ErrInvalidConfig, c.SegmentMs)
	case c.RollInterval < 0:
		return fmt.Errorf("%w: RollInterval %v is negative", ErrInvalidConfig, c.RollInterval)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("%w: IndexIntervalBytes %d is negative", ErrInvalidConfig, c.IndexIntervalBytes)
	}
	return nil
}
