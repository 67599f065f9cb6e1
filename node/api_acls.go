package node

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/security"
)

// DescribeAcls (key 29), CreateAcls (key 30) and DeleteAcls (key 31):
// Kafka's ACLs, kept in the replicated metadata. Without --authorizer they
// answer SECURITY_DISABLED, as Kafka does with no authorizer configured.
func init() {
	register(29, 0, 3, (*Node).handleDescribeAcls)
	register(30, 0, 3, (*Node).handleCreateAcls)
	register(31, 0, 3, (*Node).handleDeleteAcls)
}

// patternOf maps the request's pattern type; v0 has only literal names
// (filters: literal too).
func patternOf(version int16, p kmsg.ACLResourcePatternType) security.PatternType {
	if version == 0 {
		return security.PatternLiteral
	}
	return security.PatternType(p)
}

func filterOf(version int16, rt kmsg.ACLResourceType, name *string, pt kmsg.ACLResourcePatternType, principal, host *string,
	op kmsg.ACLOperation, perm kmsg.ACLPermissionType) (security.Filter, error) {
	f := security.Filter{ResourceType: security.ResourceType(rt), ResourceName: name, PatternType: patternOf(version, pt),
		Principal: principal, Host: host, Operation: security.Operation(op), Permission: security.Permission(perm)}
	switch {
	case f.ResourceType < security.ResourceAny || f.ResourceType > security.ResourceUser:
		return f, fmt.Errorf("%w: resource type %d", kerr.InvalidRequest, rt)
	case f.PatternType < security.PatternAny || f.PatternType > security.PatternPrefixed:
		return f, fmt.Errorf("%w: pattern type %d", kerr.InvalidRequest, pt)
	case f.Operation < security.OpAny || f.Operation > security.OpDescribeTokens:
		return f, fmt.Errorf("%w: operation %d", kerr.InvalidRequest, op)
	case f.Permission < security.PermissionAny || f.Permission > security.PermissionAllow:
		return f, fmt.Errorf("%w: permission %d", kerr.InvalidRequest, perm)
	}
	return f, nil
}

func (n *Node) authorizerOn() bool { return n.sec.plan.authorizer }

func (n *Node) handleDescribeAcls(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DescribeACLsRequest)
	resp := kmsg.NewPtrDescribeACLsResponse()
	if !n.authorizerOn() {
		resp.ErrorCode = kerr.SecurityDisabled.Code
		rep.finish(resp)
		return
	}
	f, err := filterOf(r.version, req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host, req.Operation, req.PermissionType)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errCode(err), errMsg(err)
		rep.finish(resp)
		return
	}
	type key struct {
		rt   security.ResourceType
		name string
		pt   security.PatternType
	}
	index := map[key]int{}
	for _, a := range n.meta.ACLs() {
		if !f.Matches(a) {
			continue
		}
		k := key{a.ResourceType, a.ResourceName, a.PatternType}
		i, ok := index[k]
		if !ok {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = kmsg.ACLResourceType(k.rt), k.name, kmsg.ACLResourcePatternType(k.pt)
			resp.Resources = append(resp.Resources, res)
			i = len(resp.Resources) - 1
			index[k] = i
		}
		e := kmsg.NewDescribeACLsResponseResourceACL()
		e.Principal, e.Host, e.Operation, e.PermissionType = a.Principal, a.Host, kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, e)
	}
	rep.finish(resp)
}

func (n *Node) handleCreateAcls(r *request, rep *reply) {
	req := r.kreq.(*kmsg.CreateACLsRequest)
	resp := kmsg.NewPtrCreateACLsResponse()
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
	}
	if !n.authorizerOn() {
		for i := range resp.Results {
			resp.Results[i].ErrorCode = kerr.SecurityDisabled.Code
		}
		rep.finish(resp)
		return
	}
	var acls []security.ACL
	var at []int
	for i, c := range req.Creations {
		a := security.ACL{ResourceType: security.ResourceType(c.ResourceType), ResourceName: c.ResourceName,
			PatternType: patternOf(r.version, c.ResourcePatternType), Principal: c.Principal, Host: c.Host,
			Operation: security.Operation(c.Operation), Permission: security.Permission(c.PermissionType)}
		if err := a.Validate(); err != nil {
			msg := err.Error()
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = kerr.InvalidRequest.Code, &msg
			continue
		}
		acls = append(acls, a)
		at = append(at, i)
	}
	if len(acls) == 0 {
		rep.finish(resp)
		return
	}
	n.safeGo(r, rep, func() {
		ctx, cancel := context.WithTimeout(r.conn.ctx, 30*time.Second)
		defer cancel()
		if err := n.meta.CreateACLs(ctx, acls); err != nil {
			for _, i := range at {
				resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = errCode(err), errMsg(err)
			}
		} else {
			n.log.Info("ACLs created", "count", len(acls), "by", string(r.principal))
			n.awaitACLs(ctx)
		}
		rep.finish(resp)
	})
}

func (n *Node) handleDeleteAcls(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DeleteACLsRequest)
	resp := kmsg.NewPtrDeleteACLsResponse()
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range resp.Results {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
	}
	if !n.authorizerOn() {
		for i := range resp.Results {
			resp.Results[i].ErrorCode = kerr.SecurityDisabled.Code
		}
		rep.finish(resp)
		return
	}
	all := n.meta.ACLs()
	var doomed []security.ACL
	seen := map[security.ACL]bool{}
	for i, rf := range req.Filters {
		f, err := filterOf(r.version, rf.ResourceType, rf.ResourceName, rf.ResourcePatternType, rf.Principal, rf.Host, rf.Operation, rf.PermissionType)
		if err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = errCode(err), errMsg(err)
			continue
		}
		for _, a := range all {
			if !f.Matches(a) {
				continue
			}
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = kmsg.ACLResourceType(a.ResourceType), a.ResourceName, kmsg.ACLResourcePatternType(a.PatternType)
			m.Principal, m.Host, m.Operation, m.PermissionType = a.Principal, a.Host, kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
			resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
			if !seen[a] {
				seen[a] = true
				doomed = append(doomed, a)
			}
		}
	}
	if len(doomed) == 0 {
		rep.finish(resp)
		return
	}
	n.safeGo(r, rep, func() {
		ctx, cancel := context.WithTimeout(r.conn.ctx, 30*time.Second)
		defer cancel()
		if err := n.meta.DeleteACLs(ctx, doomed); err != nil {
			for i := range resp.Results {
				if resp.Results[i].ErrorCode == 0 {
					resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = errCode(err), errMsg(err)
					resp.Results[i].MatchingACLs = nil
				}
			}
		} else {
			n.log.Info("ACLs deleted", "count", len(doomed), "by", string(r.principal))
			n.awaitACLs(ctx)
		}
		rep.finish(resp)
	})
}
