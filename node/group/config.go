package group

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Config configures a Coordinator. The fields mirror Kafka's broker
// settings of the same meaning.
type Config struct {
	// NumPartitions is offsets.topic.num.partitions: how many partitions
	// __consumer_offsets has, which decides each group's partition.
	NumPartitions int32
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms.
	InitialRebalanceDelay time.Duration
	// MinSessionTimeout and MaxSessionTimeout are
	// group.min.session.timeout.ms and group.max.session.timeout.ms.
	MinSessionTimeout time.Duration
	MaxSessionTimeout time.Duration
	// MaxGroupSize is group.max.size.
	MaxGroupSize int
	// MaxMetadataBytes is offset.metadata.max.bytes.
	MaxMetadataBytes int
	// OffsetsRetention is offsets.retention.minutes: how long the offsets
	// of an empty group are kept after its last commit.
	OffsetsRetention time.Duration
	// RetentionCheckInterval is offsets.retention.check.interval.ms.
	RetentionCheckInterval time.Duration
	Logger                 *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		NumPartitions:          50,
		InitialRebalanceDelay:  3 * time.Second,
		MinSessionTimeout:      6 * time.Second,
		MaxSessionTimeout:      30 * time.Minute,
		MaxGroupSize:           1<<31 - 1,
		MaxMetadataBytes:       4096,
		OffsetsRetention:       7 * 24 * time.Hour,
		RetentionCheckInterval: 10 * time.Minute,
	}
}

// ErrInvalidConfig is returned by Validate.
var ErrInvalidConfig = errors.New("invalid group coordinator config")

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.NumPartitions < 1:
		return fmt.Errorf("%w: NumPartitions must be >= 1", ErrInvalidConfig)
	case c.InitialRebalanceDelay < 0:
		return fmt.Errorf("%w: InitialRebalanceDelay must be >= 0", ErrInvalidConfig)
	case c.MinSessionTimeout <= 0 || c.MaxSessionTimeout < c.MinSessionTimeout:
		return fmt.Errorf("%w: need 0 < MinSessionTimeout <= MaxSessionTimeout", ErrInvalidConfig)
	case c.MaxGroupSize < 1:
		return fmt.Errorf("%w: MaxGroupSize must be >= 1", ErrInvalidConfig)
	case c.MaxMetadataBytes < 0:
		return fmt.Errorf("%w: MaxMetadataBytes must be >= 0", ErrInvalidConfig)
	case c.OffsetsRetention <= 0 || c.RetentionCheckInterval <= 0:
		return fmt.Errorf("%w: OffsetsRetention and RetentionCheckInterval must be > 0", ErrInvalidConfig)
	}
	return nil
}

func (c Config) rules() Rules {
	return Rules{
		InitialRebalanceDelay: c.InitialRebalanceDelay,
		MinSessionTimeout:     c.MinSessionTimeout,
		MaxSessionTimeout:     c.MaxSessionTimeout,
		MaxSize:               c.MaxGroupSize,
		NewMemberID:           newMemberID,
	}
}

// newMemberID is Kafka's form: the client ID, a dash and a random UUID.
func newMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return clientID + "-" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// PartitionFor is Kafka's placement of a group on __consumer_offsets:
// abs(javaStringHashCode(groupID)) % numPartitions.
func PartitionFor(groupID string, numPartitions int32) int32 {
	var h int32
	for _, c := range utf16Units(groupID) {
		h = 31*h + int32(c)
	}
	// Kafka's Utils.abs maps MinInt32 to 0 rather than overflowing.
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % numPartitions
}

// utf16Units are the UTF-16 code units Java hashes a String by.
func utf16Units(s string) []uint16 {
	out := make([]uint16, 0, len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xd800+(r>>10)), uint16(0xdc00+(r&0x3ff)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}
