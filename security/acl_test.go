package security

import (
	"fmt"
	"testing"
)

func allow(rt ResourceType, name string, pt PatternType, principal string, op Operation) ACL {
	return ACL{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: Wildcard, Operation: op, Permission: PermissionAllow}
}

func TestAuthorizerFollowsKafkasRules(t *testing.T) {
	deny := allow(ResourceTopic, "orders", PatternLiteral, "User:bob", OpWrite)
	deny.Permission = PermissionDeny
	hostOnly := allow(ResourceTopic, "audit", PatternLiteral, "User:carol", OpRead)
	hostOnly.Host = "10.0.0.7"
	acls := []ACL{
		allow(ResourceTopic, "orders", PatternLiteral, "User:alice", OpWrite),
		allow(ResourceTopic, "orders", PatternLiteral, "User:*", OpRead),
		allow(ResourceTopic, "pay-", PatternPrefixed, "User:bob", OpAll),
		deny,
		hostOnly,
		allow(ResourceGroup, "*", PatternLiteral, "User:alice", OpRead),
		allow(ResourceCluster, ClusterName, PatternLiteral, "User:ops", OpAlterConfigs),
	}
	for _, a := range acls {
		if err := a.Validate(); err != nil {
			t.Fatalf("%+v: %v", a, err)
		}
	}
	az := &Authorizer{ACLs: NewACLIndex(acls), SuperUsers: map[Principal]bool{"User:root": true}}
	topic := func(n string) Resource { return Resource{ResourceTopic, n} }
	for _, c := range []struct {
		p    Principal
		host string
		op   Operation
		r    Resource
		want bool
	}{
		{"User:alice", "1.1.1.1", OpWrite, topic("orders"), true},
		{"User:alice", "1.1.1.1", OpDescribe, topic("orders"), true}, // implied by WRITE
		{"User:alice", "1.1.1.1", OpDelete, topic("orders"), false},
		{"User:eve", "1.1.1.1", OpRead, topic("orders"), true}, // User:*
		{"User:eve", "1.1.1.1", OpWrite, topic("orders"), false},
		{"User:bob", "1.1.1.1", OpWrite, topic("orders"), false}, // deny wins over User:* read? no: bob has no write allow, and deny
		{"User:bob", "1.1.1.1", OpRead, topic("orders"), true},
		{"User:bob", "1.1.1.1", OpDelete, topic("pay-eu"), true}, // prefixed ALL
		{"User:bob", "1.1.1.1", OpDelete, topic("pay"), false},
		{"User:carol", "10.0.0.7", OpRead, topic("audit"), true},
		{"User:carol", "10.0.0.8", OpRead, topic("audit"), false},
		{"User:alice", "h", OpRead, Resource{ResourceGroup, "any-group"}, true},
		{"User:ops", "h", OpDescribeConfigs, Resource{ResourceCluster, ClusterName}, true},
		{"User:ops", "h", OpAlter, Resource{ResourceCluster, ClusterName}, false},
		{"User:root", "h", OpDelete, topic("orders"), true},
		{"User:eve", "h", OpRead, topic("unbound"), false}, // no ACL: denied by default
	} {
		if got := az.Authorize(c.p, c.host, c.op, c.r); got != c.want {
			t.Errorf("%s %s op %d on %v: %v, want %v", c.p, c.host, c.op, c.r, got, c.want)
		}
	}
	// A deny ALL beats the prefixed allow ALL.
	d := allow(ResourceTopic, "pay-secret", PatternLiteral, "User:bob", OpAll)
	d.Permission = PermissionDeny
	az2 := &Authorizer{ACLs: NewACLIndex(append(acls, d))}
	if az2.Authorize("User:bob", "h", OpRead, topic("pay-secret")) {
		t.Error("deny ALL did not win")
	}
	open := &Authorizer{ACLs: NewACLIndex(acls), AllowIfNoACL: true}
	if !open.Authorize("User:eve", "h", OpRead, topic("unbound")) || open.Authorize("User:eve", "h", OpWrite, topic("orders")) {
		t.Error("allow.everyone.if.no.acl.found applied wrongly")
	}
}

func TestFilters(t *testing.T) {
	name := func(s string) *string { return &s }
	lit := allow(ResourceTopic, "orders", PatternLiteral, "User:a", OpRead)
	wild := allow(ResourceTopic, "*", PatternLiteral, "User:a", OpRead)
	pre := allow(ResourceTopic, "ord", PatternPrefixed, "User:a", OpRead)
	for _, c := range []struct {
		f    Filter
		want [3]bool
	}{
		{Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, [3]bool{true, true, true}},
		{Filter{ResourceType: ResourceTopic, ResourceName: name("orders"), PatternType: PatternMatch, Operation: OpAny, Permission: PermissionAny}, [3]bool{true, true, true}},
		{Filter{ResourceType: ResourceTopic, ResourceName: name("orders"), PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, [3]bool{true, false, false}},
		{Filter{ResourceType: ResourceTopic, ResourceName: name("ord"), PatternType: PatternPrefixed, Operation: OpAny, Permission: PermissionAny}, [3]bool{false, false, true}},
		{Filter{ResourceType: ResourceGroup, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, [3]bool{}},
		{Filter{ResourceType: ResourceAny, PatternType: PatternAny, Principal: name("User:b"), Operation: OpAny, Permission: PermissionAny}, [3]bool{}},
		{Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpWrite, Permission: PermissionAny}, [3]bool{}},
	} {
		got := [3]bool{c.f.Matches(lit), c.f.Matches(wild), c.f.Matches(pre)}
		if got != c.want {
			t.Errorf("filter %+v: %v, want %v", c.f, got, c.want)
		}
	}
}

func TestACLValidate(t *testing.T) {
	good := allow(ResourceTopic, "t", PatternLiteral, "User:a", OpRead)
	for i, mut := range []func(*ACL){
		func(a *ACL) { a.ResourceType = ResourceAny },
		func(a *ACL) { a.PatternType = PatternMatch },
		func(a *ACL) { a.ResourceName = "" },
		func(a *ACL) { a.Principal = "alice" },
		func(a *ACL) { a.Host = "" },
		func(a *ACL) { a.Operation = OpAny },
		func(a *ACL) { a.Permission = PermissionAny },
		func(a *ACL) { a.ResourceType, a.ResourceName = ResourceCluster, "other" },
	} {
		a := good
		mut(&a)
		if a.Validate() == nil {
			t.Errorf("mutation %d accepted: %+v", i, a)
		}
	}
}

func BenchmarkAuthorize10kACLs(b *testing.B) {
	var acls []ACL
	for i := range 10000 {
		pt := PatternLiteral
		if i%4 == 0 {
			pt = PatternPrefixed
		}
		acls = append(acls, allow(ResourceTopic, fmt.Sprintf("topic-%05d", i), pt, fmt.Sprintf("User:u%d", i%50), OpWrite))
	}
	az := &Authorizer{ACLs: NewACLIndex(acls)}
	r := Resource{ResourceTopic, "topic-04242"}
	b.ReportAllocs()
	for b.Loop() {
		az.Authorize("User:u42", "10.0.0.1", OpWrite, r)
	}
}
