package node

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/quota"
)

// DescribeClientQuotas (key 48) and AlterClientQuotas (key 49), KIP-546:
// client quotas on user and client-id entities in the replicated
// metadata, enforced by quotas.go.
func init() {
	register(48, 0, 1, (*Node).handleDescribeClientQuotas)
	register(49, 0, 1, (*Node).handleAlterClientQuotas)
}

func (n *Node) handleDescribeClientQuotas(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DescribeClientQuotasRequest)
	resp := kmsg.NewPtrDescribeClientQuotasResponse()
	var filters []quota.Filter
	for _, c := range req.Components {
		f := quota.Filter{Type: c.EntityType, Match: int8(c.MatchType)}
		if c.MatchType == 0 {
			if c.Match == nil {
				resp.ErrorCode = kerr.InvalidRequest.Code
				resp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("an exact match on %s needs a name", c.EntityType))
				rep.finish(resp)
				return
			}
			f.Name = *c.Match
		}
		filters = append(filters, f)
	}
	entries, err := n.quotaSet().Describe(filters, req.Strict)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, errMsg(err)
		rep.finish(resp)
		return
	}
	for _, e := range entries {
		re := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, part := range []struct {
			typ string
			p   quota.Part
		}{{quota.TypeUser, e.Entity.User}, {quota.TypeClientID, e.Entity.ClientID}} {
			if !part.p.Set {
				continue
			}
			ee := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ee.Type = part.typ
			if !part.p.Default {
				ee.Name = kmsg.StringPtr(part.p.Name)
			}
			re.Entity = append(re.Entity, ee)
		}
		for _, k := range quota.Keys {
			if v, ok := e.Values[k]; ok {
				ev := kmsg.NewDescribeClientQuotasResponseEntryValue()
				ev.Key, ev.Value = k, v
				re.Values = append(re.Values, ev)
			}
		}
		resp.Entries = append(resp.Entries, re)
	}
	rep.finish(resp)
}

// quotaEntity reads a request's entity: each type at most once, user and
// client-id only (ip quotas are for connection rates, not supported).
func quotaEntity(parts []kmsg.AlterClientQuotasRequestEntryEntity) (quota.Entity, error) {
	var e quota.Entity
	for _, p := range parts {
		part := quota.DefaultPart
		if p.Name != nil {
			part = quota.Named(*p.Name)
		}
		switch p.Type {
		case quota.TypeUser:
			if e.User.Set {
				return e, fmt.Errorf("%w: user given twice", quota.ErrInvalidEntity)
			}
			e.User = part
		case quota.TypeClientID:
			if e.ClientID.Set {
				return e, fmt.Errorf("%w: client-id given twice", quota.ErrInvalidEntity)
			}
			e.ClientID = part
		default:
			return e, fmt.Errorf("%w: entity type %q (supported: user, client-id)", quota.ErrInvalidEntity, p.Type)
		}
	}
	return e, e.Validate()
}

func (n *Node) handleAlterClientQuotas(r *request, rep *reply) {
	req := r.kreq.(*kmsg.AlterClientQuotasRequest)
	resp := kmsg.NewPtrAlterClientQuotasResponse()
	type pending struct {
		alt meta.QuotaAlteration
		err error
	}
	var all []pending
	var valid []meta.QuotaAlteration
	for _, re := range req.Entries {
		var p pending
		p.alt.Entity, p.err = quotaEntity(re.Entity)
		for _, op := range re.Ops {
			if p.err != nil {
				break
			}
			if op.Remove {
				p.alt.Remove = append(p.alt.Remove, op.Key)
				continue
			}
			if p.alt.Set == nil {
				p.alt.Set = map[string]float64{}
			}
			if _, dup := p.alt.Set[op.Key]; dup {
				p.err = fmt.Errorf("%w: %s set twice", quota.ErrInvalidKey, op.Key)
			}
			p.alt.Set[op.Key] = op.Value
		}
		if p.err == nil {
			p.err = meta.ValidateQuotaAlteration(p.alt)
		}
		if p.err == nil {
			valid = append(valid, p.alt)
		}
		all = append(all, p)
	}
	n.safeGo(r, rep, func() {
		var applyErr error
		if len(valid) > 0 && !req.ValidateOnly {
			ctx, cancel := context.WithTimeout(r.conn.ctx, 30*time.Second)
			applyErr = n.meta.AlterClientQuotas(ctx, valid)
			cancel()
			if applyErr == nil {
				n.refreshQuotas()
			}
		}
		for i, p := range all {
			re := kmsg.NewAlterClientQuotasResponseEntry()
			for _, ent := range req.Entries[i].Entity {
				ee := kmsg.NewAlterClientQuotasResponseEntryEntity()
				ee.Type, ee.Name = ent.Type, ent.Name
				re.Entity = append(re.Entity, ee)
			}
			err := p.err
			if err == nil {
				err = applyErr
			}
			switch {
			case err == nil:
				if !req.ValidateOnly {
					n.log.Info("client quotas altered", "entity", p.alt.Entity.String(), "set", p.alt.Set, "removed", p.alt.Remove, "by", r.principal)
				}
			case p.err != nil:
				re.ErrorCode, re.ErrorMessage = kerr.InvalidRequest.Code, errMsg(err)
			default:
				re.ErrorCode, re.ErrorMessage = errCode(err), errMsg(err)
			}
			resp.Entries = append(resp.Entries, re)
		}
		rep.finish(resp)
	})
}
