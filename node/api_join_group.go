package node

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/group"
)

// JoinGroup (key 11): versions 0-9. From v4 a new dynamic member first gets
// MEMBER_ID_REQUIRED with its member ID and must join again (KIP-394);
// static members (group.instance.id, v5+) skip that step and rejoin a stable
// group without a rebalance. The response waits, off the connection's
// reader, until the group's join phase completes.
func init() { register(11, 0, 9, (*Node).handleJoinGroup) }

func (n *Node) handleJoinGroup(r *request, rep *reply) {
	req := r.kreq.(*kmsg.JoinGroupRequest)
	jr := group.JoinRequest{
		MemberID:           req.MemberID,
		ClientID:           r.clientID,
		ClientHost:         clientHost(r),
		SessionTimeout:     time.Duration(req.SessionTimeoutMillis) * time.Millisecond,
		RebalanceTimeout:   time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond,
		ProtocolType:       req.ProtocolType,
		RequireKnownMember: r.version >= 4,
	}
	if r.version == 0 {
		jr.RebalanceTimeout = jr.SessionTimeout
	}
	if req.InstanceID != nil {
		jr.InstanceID = *req.InstanceID
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, group.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	n.groups.c.Join(req.Group, jr, func(res group.JoinResult) {
		resp := kmsg.NewPtrJoinGroupResponse()
		resp.ErrorCode = res.Err
		resp.Generation = res.Generation
		resp.MemberID = res.MemberID
		resp.LeaderID = res.Leader
		if res.Err == 0 {
			pt, p := res.ProtocolType, res.Protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
			resp.SkipAssignment = res.SkipAssignment
			for _, m := range res.Members {
				jm := kmsg.NewJoinGroupResponseMember()
				jm.MemberID = m.ID
				if m.InstanceID != "" {
					id := m.InstanceID
					jm.InstanceID = &id
				}
				jm.ProtocolMetadata = m.Metadata
				resp.Members = append(resp.Members, jm)
			}
		}
		if res.Err == kerr.MemberIDRequired.Code && r.version < 4 {
			resp.ErrorCode = kerr.UnknownMemberID.Code
		}
		rep.finish(resp)
	})
}

// clientHost is the client's address as Kafka reports it ("/1.2.3.4").
func clientHost(r *request) string {
	addr := r.conn.nc.RemoteAddr().String()
	if i := lastColon(addr); i > 0 {
		addr = addr[:i]
	}
	if len(addr) > 1 && addr[0] == '[' {
		addr = addr[1 : len(addr)-1]
	}
	return "/" + addr
}

func lastColon(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return i
		}
	}
	return -1
}
