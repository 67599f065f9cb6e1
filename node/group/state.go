package group

import (
	"bytes"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// State is a classic group's state, named as Kafka's DescribeGroups and
// ListGroups report it.
type State int8

// The states of the classic rebalance protocol.
const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	case Dead:
		return "Dead"
	}
	return "Unknown"
}

// ParseState maps a Kafka state name to a State.
func ParseState(s string) (State, bool) {
	for st := Empty; st <= Dead; st++ {
		if st.String() == s {
			return st, true
		}
	}
	return 0, false
}

// Protocol is one assignor a member supports, with its member metadata.
type Protocol struct {
	Name     string
	Metadata []byte
}

// Member is one member of a group.
type Member struct {
	ID               string
	InstanceID       string // "" for dynamic members
	ClientID         string
	ClientHost       string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	Protocols        []Protocol
	Assignment       []byte

	joinWaiter uint64    // parked JoinGroup, 0 if none
	syncWaiter uint64    // parked SyncGroup, 0 if none
	deadline   time.Time // session expiry unless a join or sync is parked
	joinedNew  bool      // joined during the current rebalance for the first time
}

// Metadata returns the member's metadata for a protocol, nil if it does not
// support it.
func (m *Member) Metadata(protocol string) []byte {
	for _, p := range m.Protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// Rules are the broker settings the state machine applies.
type Rules struct {
	InitialRebalanceDelay time.Duration
	MinSessionTimeout     time.Duration
	MaxSessionTimeout     time.Duration
	MaxSize               int
	// NewMemberID returns a fresh member ID for a client.
	NewMemberID func(clientID string) string
}

// Group is the pure state machine of one classic group: events go in as
// method calls with the current time, and what must happen (replies to
// parked requests, persisting the group) comes out as actions. It does no
// I/O and reads no clock; NextDeadline says when Tick must next be called.
type Group struct {
	ID           string
	State        State
	ProtocolType string
	Protocol     string
	Generation   int32
	Leader       string
	StateSince   time.Time

	Members   map[string]*Member
	order     []string          // member IDs in join order, for choosing a leader
	instances map[string]string // group.instance.id → member ID
	pending   map[string]time.Time

	rules             Rules
	rebalanceDeadline time.Time // PreparingRebalance or CompletingRebalance timeout
	initialPhase      bool      // inside group.initial.rebalance.delay.ms
	initialCap        time.Time
	joinedInPhase     int
}

// NewGroup returns an empty group.
func NewGroup(id string, rules Rules, now time.Time) *Group {
	return &Group{
		ID:         id,
		State:      Empty,
		StateSince: now,
		Members:    map[string]*Member{},
		instances:  map[string]string{},
		pending:    map[string]time.Time{},
		rules:      rules,
	}
}

// SetRules replaces the settings (after a dynamic config change).
func (g *Group) SetRules(r Rules) { g.rules = r }

// Action is something the caller must do after an event.
type Action interface{ isAction() }

// JoinReply answers a parked or immediate JoinGroup.
type JoinReply struct {
	Waiter uint64
	Result JoinResult
}

// SyncReply answers a parked or immediate SyncGroup.
type SyncReply struct {
	Waiter       uint64
	Err          int16
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// Persist asks for the group's current metadata to be written to its
// __consumer_offsets partition. With Sync set, the caller must report the
// outcome through SyncPersisted(Generation, err).
type Persist struct {
	Sync       bool
	Generation int32
}

func (JoinReply) isAction() {}
func (SyncReply) isAction() {}
func (Persist) isAction()   {}

// JoinMember is a member as the leader sees it in a JoinGroup response.
type JoinMember struct {
	ID         string
	InstanceID string
	Metadata   []byte
}

// JoinResult is the content of a JoinGroup response.
type JoinResult struct {
	Err            int16
	Generation     int32
	ProtocolType   string
	Protocol       string
	Leader         string
	MemberID       string
	Members        []JoinMember // only for the leader
	SkipAssignment bool
}

// JoinRequest is a JoinGroup as the state machine sees it.
type JoinRequest struct {
	Waiter           uint64
	MemberID         string
	InstanceID       string
	ClientID         string
	ClientHost       string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	ProtocolType     string
	Protocols        []Protocol
	// RequireKnownMember is set from JoinGroup v4: a new dynamic member is
	// given its ID with MEMBER_ID_REQUIRED and must join again (KIP-394).
	RequireKnownMember bool
}

// SyncRequest is a SyncGroup as the state machine sees it.
type SyncRequest struct {
	Waiter       uint64
	MemberID     string
	InstanceID   string
	Generation   int32
	ProtocolType *string
	Protocol     *string
	Assignments  map[string][]byte // only from the leader
}

func joinErr(w uint64, memberID string, code int16) []Action {
	return []Action{JoinReply{Waiter: w, Result: JoinResult{Err: code, MemberID: memberID, Generation: -1}}}
}

// fenced reports whether a static instance ID maps to a different member.
func (g *Group) fenced(instanceID, memberID string) bool {
	if instanceID == "" {
		return false
	}
	cur, ok := g.instances[instanceID]
	return ok && cur != memberID
}

// IsEmpty reports whether the group has no members.
func (g *Group) IsEmpty() bool { return len(g.Members) == 0 }

// candidates are the protocols every member supports.
func (g *Group) candidates() map[string]bool {
	var out map[string]bool
	for _, m := range g.Members {
		set := map[string]bool{}
		for _, p := range m.Protocols {
			if out == nil || out[p.Name] {
				set[p.Name] = true
			}
		}
		out = set
	}
	return out
}

func (g *Group) supports(protocolType string, protos []Protocol) bool {
	if len(g.Members) == 0 {
		return protocolType != "" && len(protos) > 0
	}
	if protocolType != g.ProtocolType {
		return false
	}
	cand := g.candidates()
	for _, p := range protos {
		if cand[p.Name] {
			return true
		}
	}
	return false
}

// SelectProtocol picks the protocol all members support that most members
// prefer, as Kafka does: each member votes for the first protocol of its
// list that every member supports. Ties go to the leader's (or first
// member's) preference.
func (g *Group) SelectProtocol() string {
	cand := g.candidates()
	if len(cand) == 0 {
		return ""
	}
	votes := map[string]int{}
	for _, m := range g.Members {
		for _, p := range m.Protocols {
			if cand[p.Name] {
				votes[p.Name]++
				break
			}
		}
	}
	var pref []Protocol
	if m := g.Members[g.Leader]; m != nil {
		pref = m.Protocols
	} else if len(g.order) > 0 {
		pref = g.Members[g.order[0]].Protocols
	}
	best, bestVotes := "", -1
	for _, p := range pref {
		if cand[p.Name] && votes[p.Name] > bestVotes {
			best, bestVotes = p.Name, votes[p.Name]
		}
	}
	return best
}

func sameProtocols(a, b []Protocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Metadata, b[i].Metadata) {
			return false
		}
	}
	return true
}

func (g *Group) transition(s State, now time.Time) {
	g.State = s
	g.StateSince = now
}

// Join handles a JoinGroup.
func (g *Group) Join(now time.Time, r JoinRequest) []Action {
	if r.SessionTimeout < g.rules.MinSessionTimeout || r.SessionTimeout > g.rules.MaxSessionTimeout {
		return joinErr(r.Waiter, r.MemberID, kerr.InvalidSessionTimeout.Code)
	}
	if r.RebalanceTimeout <= 0 {
		r.RebalanceTimeout = r.SessionTimeout
	}
	if g.State == Dead {
		return joinErr(r.Waiter, r.MemberID, kerr.CoordinatorNotAvailable.Code)
	}
	known := g.Members[r.MemberID]
	if r.MemberID == "" || known == nil {
		if _, isPending := g.pending[r.MemberID]; r.MemberID != "" && !isPending {
			if g.fenced(r.InstanceID, r.MemberID) {
				return joinErr(r.Waiter, r.MemberID, kerr.FencedInstanceID.Code)
			}
			return joinErr(r.Waiter, r.MemberID, kerr.UnknownMemberID.Code)
		}
		if !g.supports(r.ProtocolType, r.Protocols) {
			return joinErr(r.Waiter, r.MemberID, kerr.InconsistentGroupProtocol.Code)
		}
		if r.InstanceID != "" {
			if old, ok := g.instances[r.InstanceID]; ok && g.Members[old] != nil {
				return g.replaceStatic(now, r, g.Members[old])
			}
		}
		if g.rules.MaxSize > 0 && len(g.Members)+len(g.pending) >= g.rules.MaxSize && r.MemberID == "" {
			return joinErr(r.Waiter, r.MemberID, kerr.GroupMaxSizeReached.Code)
		}
		if r.MemberID == "" {
			r.MemberID = g.rules.NewMemberID(r.ClientID)
			if r.RequireKnownMember && r.InstanceID == "" {
				g.pending[r.MemberID] = now.Add(r.SessionTimeout)
				return joinErr(r.Waiter, r.MemberID, kerr.MemberIDRequired.Code)
			}
		}
		delete(g.pending, r.MemberID)
		return g.addMember(now, r)
	}
	if g.fenced(r.InstanceID, r.MemberID) {
		return joinErr(r.Waiter, r.MemberID, kerr.FencedInstanceID.Code)
	}
	if !g.supports(r.ProtocolType, r.Protocols) {
		return joinErr(r.Waiter, r.MemberID, kerr.InconsistentGroupProtocol.Code)
	}
	m := known
	var acts []Action
	if m.joinWaiter != 0 {
		// A second JoinGroup from the same member replaces the first.
		acts = append(acts, JoinReply{Waiter: m.joinWaiter, Result: JoinResult{Err: kerr.RebalanceInProgress.Code, MemberID: m.ID, Generation: -1}})
		m.joinWaiter = 0
	}
	switch g.State {
	case PreparingRebalance:
		g.updateMember(now, m, r)
		return append(acts, g.tryCompleteJoin(now)...)
	case CompletingRebalance, Stable:
		if sameProtocols(m.Protocols, r.Protocols) && (g.State == CompletingRebalance || m.ID != g.Leader) {
			m.deadline = now.Add(m.SessionTimeout)
			res := g.joinResult(m.ID)
			return append(acts, JoinReply{Waiter: r.Waiter, Result: res})
		}
		g.updateMember(now, m, r)
		return append(acts, g.prepareRebalance(now)...)
	}
	return append(acts, joinErr(r.Waiter, r.MemberID, kerr.UnknownMemberID.Code)...)
}

func (g *Group) updateMember(now time.Time, m *Member, r JoinRequest) {
	m.Protocols = r.Protocols
	m.SessionTimeout = r.SessionTimeout
	m.RebalanceTimeout = r.RebalanceTimeout
	m.ClientID = r.ClientID
	m.ClientHost = r.ClientHost
	m.joinWaiter = r.Waiter
	m.deadline = now.Add(r.SessionTimeout)
}

func (g *Group) addMember(now time.Time, r JoinRequest) []Action {
	if len(g.Members) == 0 {
		g.ProtocolType = r.ProtocolType
	}
	m := &Member{ID: r.MemberID, InstanceID: r.InstanceID, joinedNew: true}
	g.updateMember(now, m, r)
	g.Members[m.ID] = m
	g.order = append(g.order, m.ID)
	if r.InstanceID != "" {
		g.instances[r.InstanceID] = m.ID
	}
	if g.Leader == "" {
		g.Leader = m.ID
	}
	g.joinedInPhase++
	if g.State == PreparingRebalance {
		return g.tryCompleteJoin(now)
	}
	return g.prepareRebalance(now)
}

// replaceStatic handles a static member that rejoins with an unknown member
// ID: the old member ID is fenced and, when nothing about the member changed
// in a stable group, it gets the current assignment without a rebalance.
func (g *Group) replaceStatic(now time.Time, r JoinRequest, old *Member) []Action {
	var acts []Action
	if old.joinWaiter != 0 {
		acts = append(acts, JoinReply{Waiter: old.joinWaiter, Result: JoinResult{Err: kerr.FencedInstanceID.Code, MemberID: old.ID, Generation: -1}})
	}
	if old.syncWaiter != 0 {
		acts = append(acts, SyncReply{Waiter: old.syncWaiter, Err: kerr.FencedInstanceID.Code})
	}
	newID := g.rules.NewMemberID(r.ClientID)
	delete(g.Members, old.ID)
	for i, id := range g.order {
		if id == old.ID {
			g.order[i] = newID
		}
	}
	wasLeader := g.Leader == old.ID
	if wasLeader {
		g.Leader = newID
	}
	oldProtocols := old.Protocols
	m := old
	m.ID = newID
	m.joinWaiter, m.syncWaiter = 0, 0
	g.Members[newID] = m
	g.instances[r.InstanceID] = newID
	r.MemberID = newID
	if g.State == Stable && sameProtocols(oldProtocols, r.Protocols) {
		m.ClientID, m.ClientHost = r.ClientID, r.ClientHost
		m.SessionTimeout, m.RebalanceTimeout = r.SessionTimeout, r.RebalanceTimeout
		m.deadline = now.Add(r.SessionTimeout)
		res := g.joinResult(newID)
		res.SkipAssignment = wasLeader
		return append(acts, JoinReply{Waiter: r.Waiter, Result: res}, Persist{Generation: g.Generation})
	}
	g.updateMember(now, m, r)
	switch g.State {
	case PreparingRebalance:
		return append(acts, g.tryCompleteJoin(now)...)
	default:
		return append(acts, g.prepareRebalance(now)...)
	}
}

// joinResult is the JoinGroup response for a member at the current
// generation; the leader also gets every member's metadata.
func (g *Group) joinResult(memberID string) JoinResult {
	res := JoinResult{
		Generation:   g.Generation,
		ProtocolType: g.ProtocolType,
		Protocol:     g.Protocol,
		Leader:       g.Leader,
		MemberID:     memberID,
	}
	if memberID == g.Leader {
		for _, id := range g.order {
			m := g.Members[id]
			res.Members = append(res.Members, JoinMember{ID: m.ID, InstanceID: m.InstanceID, Metadata: m.Metadata(g.Protocol)})
		}
	}
	return res
}

func (g *Group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.Members {
		if m.RebalanceTimeout > d {
			d = m.RebalanceTimeout
		}
	}
	return d
}

// prepareRebalance moves the group to PreparingRebalance: parked syncs are
// told to rejoin, and the join phase ends when every member has rejoined or
// the largest rebalance timeout passes.
func (g *Group) prepareRebalance(now time.Time) []Action {
	var acts []Action
	for _, m := range g.Members {
		if m.syncWaiter != 0 {
			acts = append(acts, SyncReply{Waiter: m.syncWaiter, Err: kerr.RebalanceInProgress.Code})
			m.syncWaiter = 0
			// It was waiting on the group, not silent: its session
			// starts again from this answer.
			m.deadline = now.Add(m.SessionTimeout)
		}
		m.Assignment = nil
	}
	wasEmpty := g.State == Empty
	g.transition(PreparingRebalance, now)
	g.rebalanceDeadline = now.Add(g.maxRebalanceTimeout())
	g.initialPhase = false
	if wasEmpty && g.rules.InitialRebalanceDelay > 0 {
		g.initialPhase = true
		g.initialCap = g.rebalanceDeadline
		g.rebalanceDeadline = minTime(now.Add(g.rules.InitialRebalanceDelay), g.initialCap)
		g.joinedInPhase = 0
		return acts
	}
	return append(acts, g.tryCompleteJoin(now)...)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (g *Group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.Members {
		if m.joinWaiter == 0 {
			return false
		}
	}
	return true
}

func (g *Group) tryCompleteJoin(now time.Time) []Action {
	if g.State != PreparingRebalance || g.initialPhase || !g.allJoined() {
		return nil
	}
	return g.completeJoin(now)
}

// completeJoin ends the join phase: dynamic members that did not rejoin are
// removed, the generation advances, a protocol and leader are chosen and
// every parked JoinGroup is answered.
func (g *Group) completeJoin(now time.Time) []Action {
	var acts []Action
	for _, id := range append([]string(nil), g.order...) {
		m := g.Members[id]
		if m.joinWaiter == 0 && m.InstanceID == "" {
			g.removeMember(id)
		}
	}
	for id := range g.pending {
		delete(g.pending, id)
	}
	g.Generation++
	if len(g.Members) == 0 {
		g.transition(Empty, now)
		// Kafka keeps the protocol type of a group that empties (describe
		// and list still say "consumer"); only the protocol is cleared. An
		// empty group accepts any protocol type on the next join.
		g.Protocol, g.Leader = "", ""
		return append(acts, Persist{Generation: g.Generation})
	}
	if g.Members[g.Leader] == nil || g.Members[g.Leader].joinWaiter == 0 {
		g.Leader = ""
		for _, id := range g.order {
			if g.Members[id].joinWaiter != 0 {
				g.Leader = id
				break
			}
		}
		if g.Leader == "" {
			g.Leader = g.order[0]
		}
	}
	g.Protocol = g.SelectProtocol()
	g.transition(CompletingRebalance, now)
	g.rebalanceDeadline = now.Add(g.maxRebalanceTimeout())
	for _, id := range g.order {
		m := g.Members[id]
		m.joinedNew = false
		m.deadline = now.Add(m.SessionTimeout)
		if m.joinWaiter == 0 {
			continue
		}
		acts = append(acts, JoinReply{Waiter: m.joinWaiter, Result: g.joinResult(id)})
		m.joinWaiter = 0
	}
	return acts
}

func (g *Group) removeMember(id string) {
	m := g.Members[id]
	if m == nil {
		return
	}
	delete(g.Members, id)
	if m.InstanceID != "" && g.instances[m.InstanceID] == id {
		delete(g.instances, m.InstanceID)
	}
	for i, x := range g.order {
		if x == id {
			g.order = append(g.order[:i], g.order[i+1:]...)
			break
		}
	}
	if g.Leader == id {
		g.Leader = ""
		if len(g.order) > 0 {
			g.Leader = g.order[0]
		}
	}
}

// memberGone removes a member that left or expired and moves the group on.
func (g *Group) memberGone(now time.Time, id string, code int16) []Action {
	m := g.Members[id]
	var acts []Action
	if m.joinWaiter != 0 {
		acts = append(acts, JoinReply{Waiter: m.joinWaiter, Result: JoinResult{Err: code, MemberID: id, Generation: -1}})
	}
	if m.syncWaiter != 0 {
		acts = append(acts, SyncReply{Waiter: m.syncWaiter, Err: code})
	}
	g.removeMember(id)
	switch g.State {
	case Stable, CompletingRebalance:
		acts = append(acts, g.prepareRebalance(now)...)
	case PreparingRebalance:
		if len(g.Members) == 0 && len(g.pending) == 0 {
			g.initialPhase = false
			acts = append(acts, g.completeJoin(now)...)
		} else {
			acts = append(acts, g.tryCompleteJoin(now)...)
		}
	}
	return acts
}

// Sync handles a SyncGroup.
func (g *Group) Sync(now time.Time, r SyncRequest) []Action {
	fail := func(code int16) []Action { return []Action{SyncReply{Waiter: r.Waiter, Err: code}} }
	if g.State == Dead {
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	if g.fenced(r.InstanceID, r.MemberID) {
		return fail(kerr.FencedInstanceID.Code)
	}
	m := g.Members[r.MemberID]
	if m == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	if r.Generation != g.Generation {
		return fail(kerr.IllegalGeneration.Code)
	}
	if (r.ProtocolType != nil && *r.ProtocolType != g.ProtocolType) || (r.Protocol != nil && *r.Protocol != g.Protocol) {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	m.deadline = now.Add(m.SessionTimeout)
	switch g.State {
	case PreparingRebalance:
		return fail(kerr.RebalanceInProgress.Code)
	case Stable:
		return []Action{SyncReply{Waiter: r.Waiter, ProtocolType: g.ProtocolType, Protocol: g.Protocol, Assignment: m.Assignment}}
	case CompletingRebalance:
		var acts []Action
		if m.syncWaiter != 0 {
			acts = append(acts, SyncReply{Waiter: m.syncWaiter, Err: kerr.RebalanceInProgress.Code})
		}
		m.syncWaiter = r.Waiter
		if r.MemberID == g.Leader && r.Assignments != nil {
			for id, mm := range g.Members {
				mm.Assignment = r.Assignments[id]
			}
			acts = append(acts, Persist{Sync: true, Generation: g.Generation})
		}
		return acts
	}
	return fail(kerr.UnknownMemberID.Code)
}

// SyncPersisted completes the leader's SyncGroup once the group's metadata
// with its assignments is durable (err nil) or could not be written.
func (g *Group) SyncPersisted(now time.Time, generation int32, err error) []Action {
	if g.State != CompletingRebalance || g.Generation != generation {
		return nil
	}
	var acts []Action
	if err != nil {
		for _, m := range g.Members {
			if m.syncWaiter != 0 {
				acts = append(acts, SyncReply{Waiter: m.syncWaiter, Err: kerr.NotCoordinator.Code})
				m.syncWaiter = 0
			}
		}
		return append(acts, g.prepareRebalance(now)...)
	}
	g.transition(Stable, now)
	for _, id := range g.order {
		m := g.Members[id]
		m.deadline = now.Add(m.SessionTimeout)
		if m.syncWaiter != 0 {
			acts = append(acts, SyncReply{Waiter: m.syncWaiter, ProtocolType: g.ProtocolType, Protocol: g.Protocol, Assignment: m.Assignment})
			m.syncWaiter = 0
		}
	}
	return acts
}

// Heartbeat handles a Heartbeat and returns its error code.
func (g *Group) Heartbeat(now time.Time, memberID, instanceID string, generation int32) int16 {
	if g.State == Dead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if g.fenced(instanceID, memberID) {
		return kerr.FencedInstanceID.Code
	}
	m := g.Members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	if generation != g.Generation {
		return kerr.IllegalGeneration.Code
	}
	m.deadline = now.Add(m.SessionTimeout)
	if g.State == PreparingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// LeaveRequest names one member leaving: by member ID, by instance ID, or
// both.
type LeaveRequest struct {
	MemberID   string
	InstanceID string
}

// Leave removes members and returns one error code per request.
func (g *Group) Leave(now time.Time, reqs []LeaveRequest) ([]int16, []Action) {
	codes := make([]int16, len(reqs))
	var acts []Action
	for i, r := range reqs {
		id := r.MemberID
		if r.InstanceID != "" {
			cur, ok := g.instances[r.InstanceID]
			switch {
			case !ok:
				codes[i] = kerr.UnknownMemberID.Code
				continue
			case r.MemberID != "" && cur != r.MemberID:
				codes[i] = kerr.FencedInstanceID.Code
				continue
			}
			id = cur
		}
		if _, ok := g.pending[id]; ok && g.Members[id] == nil {
			delete(g.pending, id)
			acts = append(acts, g.tryCompleteJoin(now)...)
			continue
		}
		if g.Members[id] == nil {
			codes[i] = kerr.UnknownMemberID.Code
			continue
		}
		acts = append(acts, g.memberGone(now, id, kerr.UnknownMemberID.Code)...)
	}
	return codes, acts
}

// CheckCommit validates an OffsetCommit's member and generation, as Kafka
// does: a commit with a negative generation to an empty group is a simple
// (standalone) commit; otherwise the member must be current. A valid commit
// counts as a heartbeat.
func (g *Group) CheckCommit(now time.Time, memberID, instanceID string, generation int32) int16 {
	switch {
	case g.State == Dead:
		return kerr.CoordinatorNotAvailable.Code
	case generation < 0 && g.State == Empty:
		return 0
	case g.fenced(instanceID, memberID):
		return kerr.FencedInstanceID.Code
	case g.State == CompletingRebalance:
		return kerr.RebalanceInProgress.Code
	case g.Members[memberID] == nil:
		return kerr.UnknownMemberID.Code
	case generation != g.Generation:
		return kerr.IllegalGeneration.Code
	}
	m := g.Members[memberID]
	m.deadline = now.Add(m.SessionTimeout)
	return 0
}

// CheckTxnCommit validates a TxnOffsetCommit (KIP-447): the member and
// generation are checked only when the producer sent them.
func (g *Group) CheckTxnCommit(memberID, instanceID string, generation int32) int16 {
	switch {
	case g.State == Dead:
		return kerr.CoordinatorNotAvailable.Code
	case g.fenced(instanceID, memberID):
		return kerr.FencedInstanceID.Code
	case memberID != "" && g.Members[memberID] == nil:
		return kerr.UnknownMemberID.Code
	case generation >= 0 && generation != g.Generation:
		return kerr.IllegalGeneration.Code
	}
	return 0
}

// NextDeadline is when Tick must next run; zero if nothing is scheduled.
func (g *Group) NextDeadline() time.Time {
	var d time.Time
	take := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	if g.State == PreparingRebalance || g.State == CompletingRebalance {
		take(g.rebalanceDeadline)
	}
	for _, m := range g.Members {
		if m.joinWaiter == 0 && m.syncWaiter == 0 {
			take(m.deadline)
		}
	}
	for _, t := range g.pending {
		take(t)
	}
	return d
}

// Tick expires members, pending member IDs and rebalance phases whose time
// has come.
func (g *Group) Tick(now time.Time) []Action {
	var acts []Action
	for id, t := range g.pending {
		if !now.Before(t) {
			delete(g.pending, id)
		}
	}
	for _, id := range g.sortedMemberIDs() {
		m := g.Members[id]
		if m == nil || m.joinWaiter != 0 || m.syncWaiter != 0 || now.Before(m.deadline) {
			continue
		}
		acts = append(acts, g.memberGone(now, id, kerr.UnknownMemberID.Code)...)
	}
	switch g.State {
	case PreparingRebalance:
		if now.Before(g.rebalanceDeadline) {
			return append(acts, g.tryCompleteJoin(now)...)
		}
		if g.initialPhase {
			if g.joinedInPhase > 0 && now.Before(g.initialCap) {
				g.joinedInPhase = 0
				g.rebalanceDeadline = minTime(now.Add(g.rules.InitialRebalanceDelay), g.initialCap)
				return acts
			}
			g.initialPhase = false
			if !g.allJoined() && now.Before(g.initialCap) {
				g.rebalanceDeadline = g.initialCap
				return acts
			}
		}
		acts = append(acts, g.completeJoin(now)...)
	case CompletingRebalance:
		if now.Before(g.rebalanceDeadline) {
			return acts
		}
		// The leader never sent its assignment: members that did not
		// sync are dropped and the group rebalances.
		for _, id := range g.sortedMemberIDs() {
			if m := g.Members[id]; m.syncWaiter == 0 {
				g.removeMember(id)
			}
		}
		acts = append(acts, g.prepareRebalance(now)...)
	}
	return acts
}

func (g *Group) sortedMemberIDs() []string {
	ids := make([]string, 0, len(g.Members))
	for id := range g.Members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// OrderedMembers returns the members in join order.
func (g *Group) OrderedMembers() []*Member {
	out := make([]*Member, 0, len(g.order))
	for _, id := range g.order {
		out = append(out, g.Members[id])
	}
	return out
}

// Restore rebuilds a group from its persisted metadata after a restart: it
// is Stable (Empty without members) and every member must heartbeat within
// its session timeout from now.
func Restore(id string, rules Rules, now time.Time, protocolType, protocol, leader string, generation int32, members []Member) *Group {
	g := NewGroup(id, rules, now)
	g.ProtocolType, g.Protocol, g.Leader, g.Generation = protocolType, protocol, leader, generation
	for i := range members {
		m := members[i]
		m.deadline = now.Add(m.SessionTimeout)
		g.Members[m.ID] = &m
		g.order = append(g.order, m.ID)
		if m.InstanceID != "" {
			g.instances[m.InstanceID] = m.ID
		}
	}
	if len(g.Members) > 0 {
		g.State = Stable
		if g.Members[g.Leader] == nil {
			g.Leader = g.order[0]
		}
	} else {
		g.Leader = ""
	}
	return g
}

// MarkDead ends the group (after DeleteGroups or losing its partition).
func (g *Group) MarkDead(now time.Time) []Action {
	var acts []Action
	for _, m := range g.Members {
		if m.joinWaiter != 0 {
			acts = append(acts, JoinReply{Waiter: m.joinWaiter, Result: JoinResult{Err: kerr.NotCoordinator.Code, MemberID: m.ID, Generation: -1}})
		}
		if m.syncWaiter != 0 {
			acts = append(acts, SyncReply{Waiter: m.syncWaiter, Err: kerr.NotCoordinator.Code})
		}
	}
	g.Members = map[string]*Member{}
	g.order = nil
	g.instances = map[string]string{}
	g.pending = map[string]time.Time{}
	g.transition(Dead, now)
	return acts
}
