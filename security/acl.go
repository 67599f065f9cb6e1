package security

import (
	"fmt"
	"strings"
)

// ACL enums, with Kafka's wire values (kmsg.ACLResourceType and friends).
type (
	ResourceType int8
	PatternType  int8
	Operation    int8
	Permission   int8
)

// Resource types.
const (
	ResourceAny             ResourceType = 1
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
)

// Pattern types: Any and Match only in filters.
const (
	PatternAny      PatternType = 1
	PatternMatch    PatternType = 2
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

// Operations.
const (
	OpAny             Operation = 1
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
)

// Permissions.
const (
	PermissionAny   Permission = 1
	PermissionDeny  Permission = 2
	PermissionAllow Permission = 3
)

// ClusterName is the name of the one Cluster resource.
const ClusterName = "kafka-cluster"

// Wildcard is the literal resource name, principal and host that match
// every one.
const Wildcard = "*"

// ACL is one access control entry bound to a resource pattern.
type ACL struct {
	ResourceType ResourceType
	ResourceName string
	PatternType  PatternType
	Principal    string
	Host         string
	Operation    Operation
	Permission   Permission
}

// Validate checks an ACL for creation, as Kafka's CreateAcls does.
func (a ACL) Validate() error {
	switch a.ResourceType {
	case ResourceTopic, ResourceGroup, ResourceCluster, ResourceTransactionalID, ResourceDelegationToken, ResourceUser:
	default:
		return fmt.Errorf("resource type %d is not a concrete type", a.ResourceType)
	}
	if a.PatternType != PatternLiteral && a.PatternType != PatternPrefixed {
		return fmt.Errorf("pattern type %d: want LITERAL or PREFIXED", a.PatternType)
	}
	if a.ResourceName == "" {
		return fmt.Errorf("empty resource name")
	}
	if a.ResourceType == ResourceCluster && (a.ResourceName != ClusterName || a.PatternType != PatternLiteral) {
		return fmt.Errorf("the cluster resource is the literal %q", ClusterName)
	}
	if a.Principal != "User:"+Wildcard {
		if _, err := ParsePrincipal(a.Principal); err != nil {
			return err
		}
	}
	if a.Host == "" {
		return fmt.Errorf("empty host (use %q for every host)", Wildcard)
	}
	if a.Operation < OpAll || a.Operation > OpDescribeTokens {
		return fmt.Errorf("operation %d is not a concrete operation", a.Operation)
	}
	if a.Permission != PermissionAllow && a.Permission != PermissionDeny {
		return fmt.Errorf("permission %d: want ALLOW or DENY", a.Permission)
	}
	return nil
}

// Filter selects ACLs for DescribeAcls and DeleteAcls; nil strings and the
// Any values match everything.
type Filter struct {
	ResourceType ResourceType
	ResourceName *string
	PatternType  PatternType
	Principal    *string
	Host         *string
	Operation    Operation
	Permission   Permission
}

// Matches reports whether the filter selects a, with Kafka's rules: a
// MATCH pattern selects the literal name, the literal wildcard and every
// prefix of the name; ANY selects both pattern types of exactly the name.
func (f Filter) Matches(a ACL) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != a.ResourceType {
		return false
	}
	switch f.PatternType {
	case PatternAny:
		if f.ResourceName != nil && *f.ResourceName != a.ResourceName {
			return false
		}
	case PatternMatch:
		if f.ResourceName != nil {
			n := *f.ResourceName
			ok := a.PatternType == PatternLiteral && (a.ResourceName == n || a.ResourceName == Wildcard) ||
				a.PatternType == PatternPrefixed && strings.HasPrefix(n, a.ResourceName)
			if !ok {
				return false
			}
		}
	default:
		if f.PatternType != a.PatternType || f.ResourceName != nil && *f.ResourceName != a.ResourceName {
			return false
		}
	}
	return (f.Principal == nil || *f.Principal == a.Principal) &&
		(f.Host == nil || *f.Host == a.Host) &&
		(f.Operation == OpAny || f.Operation == a.Operation) &&
		(f.Permission == PermissionAny || f.Permission == a.Permission)
}

// Resource is what a request acts on.
type Resource struct {
	Type ResourceType
	Name string
}

// ACLIndex answers authorization questions over a fixed set of ACLs in
// time independent of how many there are: literal names by map, prefixes
// by walking the name's own prefixes. Immutable once built.
type ACLIndex struct {
	byType map[ResourceType]*typeIndex
	count  int
}

type typeIndex struct {
	literal  map[string][]ACL // includes the wildcard "*"
	prefixed map[string][]ACL
	maxPref  int
}

// NewACLIndex indexes acls.
func NewACLIndex(acls []ACL) *ACLIndex {
	x := &ACLIndex{byType: map[ResourceType]*typeIndex{}, count: len(acls)}
	for _, a := range acls {
		ti := x.byType[a.ResourceType]
		if ti == nil {
			ti = &typeIndex{literal: map[string][]ACL{}, prefixed: map[string][]ACL{}}
			x.byType[a.ResourceType] = ti
		}
		if a.PatternType == PatternPrefixed {
			ti.prefixed[a.ResourceName] = append(ti.prefixed[a.ResourceName], a)
			ti.maxPref = max(ti.maxPref, len(a.ResourceName))
		} else {
			ti.literal[a.ResourceName] = append(ti.literal[a.ResourceName], a)
		}
	}
	return x
}

// Len is the number of ACLs indexed.
func (x *ACLIndex) Len() int { return x.count }

// Decision is the outcome of one authorization check.
type Decision int

// Decisions: NoACL means no ACL names the resource at all (allowed only
// with allow.everyone.if.no.acl.found).
const (
	Denied Decision = iota
	Allowed
	NoACL
)

// Decide applies Kafka's rules for principal, connecting from host, doing
// op on r: a matching DENY wins; then a matching ALLOW (where ALL allows
// everything, and DESCRIBE is implied by READ, WRITE, DELETE and ALTER,
// DESCRIBE_CONFIGS by ALTER_CONFIGS); otherwise Denied, or NoACL when no
// ACL at all binds the resource.
func (x *ACLIndex) Decide(principal Principal, host string, op Operation, r Resource) Decision {
	ti := x.byType[r.Type]
	if ti == nil {
		return NoACL
	}
	bound, allowed := false, false
	visit := func(list []ACL) bool {
		for _, a := range list {
			bound = true
			if a.Principal != string(principal) && a.Principal != "User:"+Wildcard {
				continue
			}
			if a.Host != host && a.Host != Wildcard {
				continue
			}
			if a.Permission == PermissionDeny {
				if a.Operation == op || a.Operation == OpAll {
					return true
				}
				continue
			}
			if implies(a.Operation, op) {
				allowed = true
			}
		}
		return false
	}
	if visit(ti.literal[r.Name]) || visit(ti.literal[Wildcard]) {
		return Denied
	}
	for l := min(len(r.Name), ti.maxPref); l > 0 && len(ti.prefixed) > 0; l-- {
		if visit(ti.prefixed[r.Name[:l]]) {
			return Denied
		}
	}
	switch {
	case allowed:
		return Allowed
	case !bound:
		return NoACL
	}
	return Denied
}

// implies reports whether an ALLOW of have permits want.
func implies(have, want Operation) bool {
	switch {
	case have == want, have == OpAll:
		return true
	case want == OpDescribe:
		return have == OpRead || have == OpWrite || have == OpDelete || have == OpAlter
	case want == OpDescribeConfigs:
		return have == OpAlterConfigs
	}
	return false
}

// Authorizer is the node's authorization policy: ACLs, super users and
// the no-ACL default. Immutable; the node swaps in a new one when the
// ACLs change.
type Authorizer struct {
	ACLs       *ACLIndex
	SuperUsers map[Principal]bool
	// AllowIfNoACL is allow.everyone.if.no.acl.found.
	AllowIfNoACL bool
}

// Authorize reports whether principal from host may do op on r.
func (a *Authorizer) Authorize(principal Principal, host string, op Operation, r Resource) bool {
	if a.SuperUsers[principal] {
		return true
	}
	switch a.ACLs.Decide(principal, host, op, r) {
	case Allowed:
		return true
	case NoACL:
		return a.AllowIfNoACL
	}
	return false
}
