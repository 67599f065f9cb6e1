package meta

import (
	"context"
	"errors"
	"fmt"
)

// errorCodes names the sentinel errors that cross the forward wire, so
// errors.Is works on the caller as it does on the leader. The first entry
// an error matches gives its code; order specific before general.
var errorCodes = []struct {
	code string
	err  error
}{
	{"ErrTopicExists", ErrTopicExists},
	{"ErrUnknownTopic", ErrUnknownTopic},
	{"ErrUnknownPartition", ErrUnknownPartition},
	{"ErrUnknownBroker", ErrUnknownBroker},
	{"ErrInvalidTopic", ErrInvalidTopic},
	{"ErrInvalidPartitions", ErrInvalidPartitions},
	{"ErrInvalidReplicationFactor", ErrInvalidReplicationFactor},
	{"ErrInvalidReplicaAssignment", ErrInvalidReplicaAssignment},
	{"ErrInvalidBroker", ErrInvalidBroker},
	{"ErrInvalidConfig", ErrInvalidConfig},
	{"ErrNotEnoughBrokers", ErrNotEnoughBrokers},
	{"ErrStaleEpoch", ErrStaleEpoch},
	{"ErrIneligibleReplica", ErrIneligibleReplica},
	{"ErrNoReassignment", ErrNoReassignment},
	{"ErrInvalidCommand", ErrInvalidCommand},
	{"ErrInvalidServers", ErrInvalidServers},
	{"ErrNoHeartbeatHandler", ErrNoHeartbeatHandler},
	{"ErrBadFrame", ErrBadFrame},
	{"ErrNoQuorum", ErrNoQuorum},
	{"ErrNotLeader", ErrNotLeader},
	{"ErrClosed", ErrClosed},
	{"DeadlineExceeded", context.DeadlineExceeded},
	{"Canceled", context.Canceled},
}

// errorCode is the code of the first sentinel err matches, or "" for an
// error without one.
func errorCode(err error) string {
	for _, e := range errorCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return ""
}

// remoteError is an error answered by the leader: its message, and the
// sentinels its code named (none for an unknown code).
type remoteError struct {
	msg       string
	sentinels []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.sentinels }

// decodeError rebuilds the leader's error from a response.
func decodeError(resp forwardResponse) error {
	var sentinels []error
	for _, e := range errorCodes {
		if e.code == resp.Code {
			sentinels = append(sentinels, e.err)
			break
		}
	}
	if len(sentinels) == 1 && sentinels[0] == ErrNoQuorum {
		// As NotLeaderError: no quorum is also not being the leader.
		sentinels = append(sentinels, ErrNotLeader)
	}
	msg := resp.Error
	if msg == "" {
		msg = fmt.Sprintf("meta: leader answered error code %q", resp.Code)
	}
	return &remoteError{msg: msg, sentinels: sentinels}
}
