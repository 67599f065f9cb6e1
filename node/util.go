package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/record"
	"github.com/stratalog/strata/storage"
)

// adminTimeout bounds metadata proposals made on behalf of a request.
const adminTimeout = 15 * time.Second

func adminCtx(timeoutMs int32) (context.Context, context.CancelFunc) {
	d := adminTimeout
	if timeoutMs > 0 && time.Duration(timeoutMs)*time.Millisecond < d {
		d = time.Duration(timeoutMs) * time.Millisecond
	}
	return context.WithTimeout(context.Background(), d)
}

// validTopicName applies Kafka's topic name rules.
func validTopicName(name string) error {
	if name == "" {
		return errors.New("topic name is empty")
	}
	if name == "." || name == ".." {
		return fmt.Errorf("topic name %q is not allowed", name)
	}
	if len(name) > 249 {
		return fmt.Errorf("topic name is %d characters, the limit is 249", len(name))
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("topic name %q contains %q: only ASCII letters, digits, '.', '_' and '-' are allowed", name, c)
		}
	}
	return nil
}

// errCode maps an internal error to a Kafka error code.
func errCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	switch {
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, storage.ErrClosed):
		// The partition is being closed or moved: the client refreshes
		// metadata and retries.
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, storage.ErrLogFailed), errors.Is(err, storage.ErrCorruptSegment), errors.Is(err, storage.ErrStorage),
		storage.IsStorageErrno(err):
		// Retriable: a disk that is full or failing, a log being
		// recovered, or a damaged range the client may read again once
		// it is healed.
		return kerr.KafkaStorageError.Code
	case errors.Is(err, meta.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, meta.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, meta.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, meta.ErrNotEnoughBrokers):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, meta.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, meta.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, meta.ErrInvalidReplicaAssignment), errors.Is(err, meta.ErrInvalidBroker):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, meta.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, meta.ErrUnknownPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, meta.ErrNoReassignment):
		return kerr.NoReassignmentInProgress.Code
	case errors.Is(err, meta.ErrNotLeader):
		return kerr.NotController.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, record.ErrCorrupt), errors.Is(err, record.ErrTooLarge),
		errors.Is(err, record.ErrInvalidRecord), errors.Is(err, record.ErrUnsupportedCodec):
		return record.KafkaError(err).Code
	}
	return kerr.UnknownServerError.Code
}

// errMsg is the message to send beside a code, nil when there is none.
func errMsg(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

// lookupPartition finds a partition this node leads and returns the Kafka
// error otherwise: UNKNOWN_TOPIC_OR_PARTITION when metadata has no such
// partition, NOT_LEADER_OR_FOLLOWER when it exists but is not hosted here or
// is hosted as a follower.
func (n *Node) lookupPartition(topic string, part int32) (*partition, int16) {
	p := n.parts.get(topic, part)
	if p != nil && p.leadership().isLeader() {
		return p, 0
	}
	t, ok := n.meta.Topic(topic)
	if !ok || part < 0 || int(part) >= len(t.Partitions) {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	return nil, kerr.NotLeaderForPartition.Code
}

// checkLeaderEpoch validates a client's current leader epoch (-1: unknown)
// against the partition's leadership.
func checkLeaderEpoch(p *partition, epoch int32) int16 {
	if epoch < 0 {
		return 0
	}
	cur := p.leadership().epoch
	switch {
	case epoch > cur:
		return kerr.UnknownLeaderEpoch.Code
	case epoch < cur:
		return kerr.FencedLeaderEpoch.Code
	}
	return 0
}

// logLimiter lets one log line through per interval and counts the rest,
// so a client retrying a failing read in a loop costs one line, not
// hundreds per second.
type logLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many lines were held back
// since the last one.
func (l *logLimiter) allow(every time.Duration) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < every {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}
