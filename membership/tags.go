package membership

import (
	"fmt"
	"strconv"
)

// Role is what a node does in the metadata quorum.
type Role string

// Roles. A voter is a raft voter or a candidate to become one; a broker
// only follows the metadata log.
const (
	RoleVoter  Role = "voter"
	RoleBroker Role = "broker"
)

// Tags are the typed serf tags every member advertises.
type Tags struct {
	NodeID          int32
	KafkaAddr       string
	RaftAddr        string
	Rack            string
	Region          string
	Role            Role
	Version         string
	ClusterID       string // empty until the node belongs to a raft cluster
	BootstrapExpect int    // 0 for nodes that are not bootstrap candidates
}

// Serf tag keys. Short, because all tags of a member share memberlist's
// 512-byte meta limit.
const (
	tagID      = "id"
	tagKafka   = "kafka"
	tagRaft    = "raft"
	tagRack    = "rack"
	tagRegion  = "region"
	tagRole    = "role"
	tagVersion = "ver"
	tagCluster = "cid"
	tagExpect  = "expect"
)

func (t Tags) encode() map[string]string {
	m := map[string]string{
		tagID:   strconv.Itoa(int(t.NodeID)),
		tagRole: string(t.Role),
	}
	for k, v := range map[string]string{
		tagKafka: t.KafkaAddr, tagRaft: t.RaftAddr, tagRack: t.Rack, tagRegion: t.Region,
		tagVersion: t.Version, tagCluster: t.ClusterID,
	} {
		if v != "" {
			m[k] = v
		}
	}
	if t.BootstrapExpect > 0 {
		m[tagExpect] = strconv.Itoa(t.BootstrapExpect)
	}
	return m
}

func decodeTags(m map[string]string) (Tags, error) {
	id, err := strconv.ParseInt(m[tagID], 10, 32)
	if err != nil || id < 0 {
		return Tags{}, fmt.Errorf("%w: node id tag %q", ErrBadTags, m[tagID])
	}
	t := Tags{
		NodeID:    int32(id),
		KafkaAddr: m[tagKafka],
		RaftAddr:  m[tagRaft],
		Rack:      m[tagRack],
		Region:    m[tagRegion],
		Role:      Role(m[tagRole]),
		Version:   m[tagVersion],
		ClusterID: m[tagCluster],
	}
	if t.Role != RoleVoter && t.Role != RoleBroker {
		return Tags{}, fmt.Errorf("%w: role tag %q", ErrBadTags, m[tagRole])
	}
	if s, ok := m[tagExpect]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return Tags{}, fmt.Errorf("%w: bootstrap-expect tag %q", ErrBadTags, s)
		}
		t.BootstrapExpect = n
	}
	return t, nil
}

func (t Tags) validate() error {
	if t.NodeID < 0 {
		return fmt.Errorf("%w: node id %d must be >= 0", ErrBadTags, t.NodeID)
	}
	if t.Role != RoleVoter && t.Role != RoleBroker {
		return fmt.Errorf("%w: role %q must be %q or %q", ErrBadTags, t.Role, RoleVoter, RoleBroker)
	}
	if t.BootstrapExpect < 0 {
		return fmt.Errorf("%w: bootstrap expect %d must be >= 0", ErrBadTags, t.BootstrapExpect)
	}
	if t.BootstrapExpect > 0 && t.Role != RoleVoter {
		return fmt.Errorf("%w: bootstrap expect needs role %q", ErrBadTags, RoleVoter)
	}
	return nil
}

// NodeName is the serf node name for a node ID. Deriving it from the ID
// makes duplicate IDs collide by name, which the merge delegate refuses.
func NodeName(id int32) string { return "node-" + strconv.Itoa(int(id)) }
