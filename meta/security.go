package meta

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/stratalog/strata/security"
)

// The security metadata: SCRAM credentials (salted, never passwords) and
// ACLs, replicated like topics so every node authenticates and authorizes
// alike, and carried in snapshots (and so in the bucket's metadata copy).

// scramJSON is a stored SCRAM credential in the log and snapshots.
type scramJSON struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"`
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// ScramKey names one user's credential of one mechanism.
type ScramKey struct {
	User      string
	Mechanism string
}

// ScramUpsert sets a user's credential of Cred.Mechanism.
type ScramUpsert struct {
	User string
	Cred security.ScramCredential
}

// ScramInfo describes a stored credential without its secrets.
type ScramInfo struct {
	Mechanism  string
	Iterations int
}

// alterScram upserts and deletes credentials in one entry.
type alterScram struct {
	Upserts   []scramJSON `json:"upserts,omitempty"`
	Deletions []ScramKey  `json:"deletions,omitempty"`
}

// aclJSON is an ACL in the log and snapshots.
type aclJSON struct {
	ResourceType int8   `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  int8   `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

func aclToJSON(a security.ACL) aclJSON {
	return aclJSON{int8(a.ResourceType), a.ResourceName, int8(a.PatternType), a.Principal, a.Host, int8(a.Operation), int8(a.Permission)}
}

func (a aclJSON) acl() security.ACL {
	return security.ACL{ResourceType: security.ResourceType(a.ResourceType), ResourceName: a.ResourceName,
		PatternType: security.PatternType(a.PatternType), Principal: a.Principal, Host: a.Host,
		Operation: security.Operation(a.Operation), Permission: security.Permission(a.Permission)}
}

// createACLs adds ACLs (already present ones are no-ops); deleteACLs
// removes exactly the ACLs listed (absent ones are no-ops).
type (
	createACLs struct {
		ACLs []aclJSON `json:"acls"`
	}
	deleteACLs struct {
		ACLs []aclJSON `json:"acls"`
	}
)

func validScram(c scramJSON) error {
	if c.User == "" {
		return fmt.Errorf("%w: SCRAM credential without a user", ErrInvalidCommand)
	}
	if !slices.Contains(security.ScramMechanisms, c.Mechanism) {
		return fmt.Errorf("%w: SCRAM mechanism %q", ErrInvalidCommand, c.Mechanism)
	}
	if c.Iterations < security.MinScramIterations || c.Iterations > security.MaxScramIterations ||
		len(c.Salt) == 0 || len(c.StoredKey) == 0 || len(c.ServerKey) == 0 {
		return fmt.Errorf("%w: SCRAM credential of %q incomplete", ErrInvalidCommand, c.User)
	}
	return nil
}

func (s *state) applyAlterScram(c *alterScram) (bool, error) {
	for _, u := range c.Upserts {
		if err := validScram(u); err != nil {
			return false, err
		}
	}
	changed := false
	for _, d := range c.Deletions {
		if m := s.scram[d.User]; m != nil {
			if _, ok := m[d.Mechanism]; ok {
				delete(m, d.Mechanism)
				changed = true
				if len(m) == 0 {
					delete(s.scram, d.User)
				}
			}
		}
	}
	for _, u := range c.Upserts {
		m := s.scram[u.User]
		if m == nil {
			m = map[string]scramJSON{}
			s.scram[u.User] = m
		}
		m[u.Mechanism] = u
		changed = true
	}
	return changed, nil
}

// aclGens numbers ACL sets process-wide, so a reader can tell that the
// ACLs changed (or a snapshot replaced them) without comparing them.
var aclGens atomic.Uint64

func (s *state) applyCreateACLs(c *createACLs) (bool, error) {
	for _, a := range c.ACLs {
		if err := a.acl().Validate(); err != nil {
			return false, fmt.Errorf("%w: ACL: %v", ErrInvalidCommand, err)
		}
	}
	changed := false
	for _, a := range c.ACLs {
		if !s.acls[a] {
			s.acls[a] = true
			changed = true
		}
	}
	if changed {
		s.aclGen = aclGens.Add(1)
	}
	return changed, nil
}

func (s *state) applyDeleteACLs(c *deleteACLs) (bool, error) {
	changed := false
	for _, a := range c.ACLs {
		if s.acls[a] {
			delete(s.acls, a)
			changed = true
		}
	}
	if changed {
		s.aclGen = aclGens.Add(1)
	}
	return changed, nil
}

func (s *state) snapshotSecurity(out *snapshotJSON) {
	for _, user := range slices.Sorted(maps.Keys(s.scram)) {
		for _, mech := range slices.Sorted(maps.Keys(s.scram[user])) {
			out.Scram = append(out.Scram, s.scram[user][mech])
		}
	}
	out.ACLs = sortedACLs(s.acls)
}

func (s *state) restoreSecurity(snap *snapshotJSON) error {
	for _, c := range snap.Scram {
		if err := validScram(c); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		if s.scram[c.User] == nil {
			s.scram[c.User] = map[string]scramJSON{}
		}
		s.scram[c.User][c.Mechanism] = c
	}
	for _, a := range snap.ACLs {
		if err := a.acl().Validate(); err != nil {
			return fmt.Errorf("snapshot: %w: ACL: %v", ErrInvalidCommand, err)
		}
		s.acls[a] = true
	}
	if len(s.acls) > 0 {
		s.aclGen = aclGens.Add(1)
	}
	return nil
}

func sortedACLs(set map[aclJSON]bool) []aclJSON {
	out := slices.Collect(maps.Keys(set))
	slices.SortFunc(out, func(a, b aclJSON) int {
		return cmpACL(a, b)
	})
	return out
}

func cmpACL(a, b aclJSON) int {
	for _, c := range []int{int(a.ResourceType) - int(b.ResourceType), cmpString(a.ResourceName, b.ResourceName),
		int(a.PatternType) - int(b.PatternType), cmpString(a.Principal, b.Principal), cmpString(a.Host, b.Host),
		int(a.Operation) - int(b.Operation), int(a.Permission) - int(b.Permission)} {
		if c != 0 {
			return c
		}
	}
	return 0
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ScramCredential returns a user's stored credential for a mechanism.
func (s *Store) ScramCredential(user, mechanism string) (c security.ScramCredential, ok bool) {
	s.fsm.read(func(st *state) {
		var j scramJSON
		if j, ok = st.scram[user][mechanism]; ok {
			c = security.ScramCredential{Mechanism: j.Mechanism, Salt: slices.Clone(j.Salt), Iterations: j.Iterations,
				StoredKey: slices.Clone(j.StoredKey), ServerKey: slices.Clone(j.ServerKey)}
		}
	})
	return c, ok
}

// ScramUsers lists every user with credentials and what they hold.
func (s *Store) ScramUsers() map[string][]ScramInfo {
	out := map[string][]ScramInfo{}
	s.fsm.read(func(st *state) {
		for user, m := range st.scram {
			for _, mech := range slices.Sorted(maps.Keys(m)) {
				out[user] = append(out[user], ScramInfo{Mechanism: mech, Iterations: m[mech].Iterations})
			}
		}
	})
	return out
}

// ACLGeneration changes whenever the ACLs do (never repeating within the
// process), so a reader rebuilds its index only then.
func (s *Store) ACLGeneration() (g uint64) {
	s.fsm.read(func(st *state) { g = st.aclGen })
	return g
}

// ACLs lists every ACL, in a stable order.
func (s *Store) ACLs() []security.ACL {
	var out []security.ACL
	s.fsm.read(func(st *state) {
		for _, a := range sortedACLs(st.acls) {
			out = append(out, a.acl())
		}
	})
	return out
}

type alterScramArgs struct {
	Upserts   []ScramUpsert
	Deletions []ScramKey
}

// AlterScramCredentials upserts and deletes SCRAM credentials in one
// change.
func (s *Store) AlterScramCredentials(ctx context.Context, upserts []ScramUpsert, deletions []ScramKey) error {
	_, err := viaLeader(s, ctx, mAlterScram, alterScramArgs{upserts, deletions}, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.alterScram(ctx, upserts, deletions)
	})
	return err
}

func (s *Store) alterScram(ctx context.Context, upserts []ScramUpsert, deletions []ScramKey) error {
	c := &alterScram{Deletions: deletions}
	for _, u := range upserts {
		j := scramToJSON(u)
		if err := validScram(j); err != nil {
			return err
		}
		c.Upserts = append(c.Upserts, j)
	}
	return s.apply(ctx, cmdAlterScram, c)
}

func scramToJSON(u ScramUpsert) scramJSON {
	return scramJSON{User: u.User, Mechanism: u.Cred.Mechanism, Salt: u.Cred.Salt, Iterations: u.Cred.Iterations,
		StoredKey: u.Cred.StoredKey, ServerKey: u.Cred.ServerKey}
}

// CreateACLs adds ACLs; each must pass security.ACL.Validate.
func (s *Store) CreateACLs(ctx context.Context, acls []security.ACL) error {
	_, err := viaLeader(s, ctx, mCreateACLs, acls, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.createACLs(ctx, acls)
	})
	return err
}

func (s *Store) createACLs(ctx context.Context, acls []security.ACL) error {
	c := &createACLs{}
	for _, a := range acls {
		if err := a.Validate(); err != nil {
			return fmt.Errorf("%w: ACL: %v", ErrInvalidCommand, err)
		}
		c.ACLs = append(c.ACLs, aclToJSON(a))
	}
	return s.apply(ctx, cmdCreateACLs, c)
}

// DeleteACLs removes exactly the ACLs given (as matched by a caller's
// filters from ACLs).
func (s *Store) DeleteACLs(ctx context.Context, acls []security.ACL) error {
	_, err := viaLeader(s, ctx, mDeleteACLs, acls, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, s.deleteACLs(ctx, acls)
	})
	return err
}

func (s *Store) deleteACLs(ctx context.Context, acls []security.ACL) error {
	c := &deleteACLs{}
	for _, a := range acls {
		c.ACLs = append(c.ACLs, aclToJSON(a))
	}
	return s.apply(ctx, cmdDeleteACLs, c)
}

// Forwarded method names of the security writes.
const (
	mAlterScram = "AlterScramCredentials"
	mCreateACLs = "CreateACLs"
	mDeleteACLs = "DeleteACLs"
)

func init() {
	forwardMethods[mAlterScram] = method(func(s *Store, ctx context.Context, a alterScramArgs) (any, error) {
		return nil, s.alterScram(ctx, a.Upserts, a.Deletions)
	})
	forwardMethods[mCreateACLs] = method(func(s *Store, ctx context.Context, acls []security.ACL) (any, error) {
		return nil, s.createACLs(ctx, acls)
	})
	forwardMethods[mDeleteACLs] = method(func(s *Store, ctx context.Context, acls []security.ACL) (any, error) {
		return nil, s.deleteACLs(ctx, acls)
	})
}
