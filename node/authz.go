package node

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/security"
)

// Authorization happens in one place: dispatch asks authorize before any
// handler runs. Each API declares in authzRules what Kafka checks for it;
// a rule either answers the whole request with Kafka's error (and the
// handler never runs) or cuts the entries the principal may not touch out
// of the request and answers them with an error beside the handler's
// answer (reply.patch). With --authorizer off no rule runs.

// authCheck is one request's authorization context.
type authCheck struct {
	n    *Node
	az   *security.Authorizer
	r    *request
	rep  *reply
	host string
}

// allow decides op on a resource; a denial is counted and audited unless
// quiet (listings that silently leave out what is not visible).
func (c *authCheck) allow(op security.Operation, rt security.ResourceType, name string, quiet bool) bool {
	if c.az.Authorize(c.r.principal, c.host, op, security.Resource{Type: rt, Name: name}) {
		return true
	}
	if !quiet {
		c.n.metrics.denials.WithLabelValues(kmsg.NameForKey(c.r.key)).Inc()
		c.n.sec.audit.Warn("operation denied", "principal", string(c.r.principal), "host", c.host,
			"api", kmsg.NameForKey(c.r.key), "operation", opName(op), "resource", resourceName(rt), "name", name)
	}
	return false
}

func (c *authCheck) cluster(op security.Operation) bool {
	return c.allow(op, security.ResourceCluster, security.ClusterName, false)
}
func (c *authCheck) topic(op security.Operation, name string) bool {
	return c.allow(op, security.ResourceTopic, name, false)
}
func (c *authCheck) group(op security.Operation, name string) bool {
	return c.allow(op, security.ResourceGroup, name, false)
}
func (c *authCheck) txn(op security.Operation, id string) bool {
	return c.allow(op, security.ResourceTransactionalID, id, false)
}

// deny answers the whole request with code: in its top-level error
// field, or, for the APIs that answer per entry, in every entry's.
func (c *authCheck) deny(code int16) bool {
	resp := c.r.kreq.ResponseKind()
	resp.SetVersion(c.r.version)
	if !setTopError(resp, code) {
		denyEntries(c.r.kreq, resp, code)
	}
	c.rep.finish(resp)
	return true
}

// denyEntries answers each entry of a request whose response has no
// top-level error.
func denyEntries(req kmsg.Request, resp kmsg.Response, code int16) {
	switch req := req.(type) {
	case *kmsg.CreateACLsRequest:
		r := resp.(*kmsg.CreateACLsResponse)
		for range req.Creations {
			e := kmsg.NewCreateACLsResponseResult()
			e.ErrorCode = code
			r.Results = append(r.Results, e)
		}
	case *kmsg.DeleteACLsRequest:
		r := resp.(*kmsg.DeleteACLsResponse)
		for range req.Filters {
			e := kmsg.NewDeleteACLsResponseResult()
			e.ErrorCode = code
			r.Results = append(r.Results, e)
		}
	case *kmsg.AlterUserSCRAMCredentialsRequest:
		r := resp.(*kmsg.AlterUserSCRAMCredentialsResponse)
		seen := map[string]bool{}
		add := func(user string) {
			if !seen[user] {
				seen[user] = true
				e := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
				e.User, e.ErrorCode = user, code
				r.Results = append(r.Results, e)
			}
		}
		for _, d := range req.Deletions {
			add(d.Name)
		}
		for _, u := range req.Upsertions {
			add(u.Name)
		}
	case *kmsg.AlterClientQuotasRequest:
		r := resp.(*kmsg.AlterClientQuotasResponse)
		for _, e := range req.Entries {
			re := kmsg.NewAlterClientQuotasResponseEntry()
			re.ErrorCode = code
			for _, ent := range e.Entity {
				ee := kmsg.NewAlterClientQuotasResponseEntryEntity()
				ee.Type, ee.Name = ent.Type, ent.Name
				re.Entity = append(re.Entity, ee)
			}
			r.Entries = append(r.Entries, re)
		}
	case *kmsg.WriteTxnMarkersRequest:
		r := resp.(*kmsg.WriteTxnMarkersResponse)
		for _, m := range req.Markers {
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			for _, t := range m.Topics {
				rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
					rp.Partition, rp.ErrorCode = p, code
					rt.Partitions = append(rt.Partitions, rp)
				}
				rm.Topics = append(rm.Topics, rt)
			}
			r.Markers = append(r.Markers, rm)
		}
	default:
		answerDenied(resp, "Topics", splitEntries(req, "Topics", func(string) (bool, int16) { return false, code }))
	}
}

// denyAll answers every entry of the request's list with code.
func (c *authCheck) denyAll(list string, code int16) bool {
	ds := splitEntries(c.r.kreq, list, func(string) (bool, int16) { return false, code })
	resp := c.r.kreq.ResponseKind()
	resp.SetVersion(c.r.version)
	answerDenied(resp, list, ds)
	c.rep.finish(resp)
	return true
}

// split cuts the entries of list that keep refuses out of the request and
// answers them after the handler. When nothing is left the handler still
// runs, on an empty list, so its answer has the right shape.
func (c *authCheck) split(list string, keep func(name string) (bool, int16)) {
	ds := splitEntries(c.r.kreq, list, keep)
	if len(ds) == 0 {
		return
	}
	c.rep.addPatch(func(resp kmsg.Response) { answerDenied(resp, list, ds) })
}

// topics cuts out the topics on which op is denied.
func (c *authCheck) topics(op security.Operation) {
	c.split("Topics", func(name string) (bool, int16) {
		return c.topic(op, name), kerr.TopicAuthorizationFailed.Code
	})
}

var (
	codeTopic   = kerr.TopicAuthorizationFailed.Code
	codeGroup   = kerr.GroupAuthorizationFailed.Code
	codeCluster = kerr.ClusterAuthorizationFailed.Code
	codeTxn     = kerr.TransactionalIDAuthorizationFailed.Code
)

// authorize runs the request's rule; false means the request has been
// answered and its handler must not run.
func (n *Node) authorize(az *security.Authorizer, r *request, rep *reply) bool {
	rule, ok := authzRules[r.key]
	if !ok {
		return true
	}
	c := &authCheck{n: n, az: az, r: r, rep: rep, host: r.conn.host}
	return !rule(c)
}

// authzRules holds, per API key, Kafka's checks (KafkaApis). A rule
// returns true when it answered the request itself. ApiVersions,
// SaslHandshake and SaslAuthenticate need nothing; every other served API
// has a rule (TestEveryAPIHasAnAuthorizationRule).
var authzRules = map[int16]func(c *authCheck) bool{
	0:  authProduce,
	1:  authFetch,
	2:  func(c *authCheck) bool { c.topics(security.OpDescribe); return false }, // ListOffsets
	3:  authMetadata,
	8:  authOffsetCommit,
	9:  authOffsetFetch,
	10: authFindCoordinator,
	11: groupRule(security.OpRead, func(r kmsg.Request) string { return r.(*kmsg.JoinGroupRequest).Group }),
	12: groupRule(security.OpRead, func(r kmsg.Request) string { return r.(*kmsg.HeartbeatRequest).Group }),
	13: groupRule(security.OpRead, func(r kmsg.Request) string { return r.(*kmsg.LeaveGroupRequest).Group }),
	14: groupRule(security.OpRead, func(r kmsg.Request) string { return r.(*kmsg.SyncGroupRequest).Group }),
	15: authDescribeGroups,
	16: authListGroups,
	19: authCreateTopics,
	20: authDeleteTopics,
	21: func(c *authCheck) bool { c.topics(security.OpDelete); return false }, // DeleteRecords
	22: authInitProducerID,
	23: authOffsetForLeaderEpoch,
	24: authAddPartitionsToTxn,
	25: authAddOffsetsToTxn,
	26: txnRule(func(r kmsg.Request) string { return r.(*kmsg.EndTxnRequest).TransactionalID }),
	27: clusterRule(security.OpClusterAction), // WriteTxnMarkers
	28: authTxnOffsetCommit,
	29: clusterRule(security.OpDescribe), // DescribeAcls
	30: clusterRule(security.OpAlter),    // CreateAcls
	31: clusterRule(security.OpAlter),    // DeleteAcls
	32: authConfigs(security.OpDescribeConfigs),
	33: authConfigs(security.OpAlterConfigs),
	35: clusterRule(security.OpDescribe),                                     // DescribeLogDirs
	37: func(c *authCheck) bool { c.topics(security.OpAlter); return false }, // CreatePartitions
	42: authDeleteGroups,
	43: clusterRule(security.OpAlter), // ElectLeaders
	44: authConfigs(security.OpAlterConfigs),
	45: clusterRule(security.OpAlter),    // AlterPartitionReassignments
	46: clusterRule(security.OpDescribe), // ListPartitionReassignments
	47: authOffsetDelete,
	48: clusterRule(security.OpDescribeConfigs),                             // DescribeClientQuotas
	49: clusterRule(security.OpAlterConfigs),                                // AlterClientQuotas
	50: clusterRule(security.OpDescribe),                                    // DescribeUserScramCredentials
	51: clusterRule(security.OpAlter),                                       // AlterUserScramCredentials
	55: clusterRule(security.OpDescribe),                                    // DescribeQuorum
	60: clusterRule(security.OpDescribe),                                    // DescribeCluster
	61: func(c *authCheck) bool { c.topics(security.OpRead); return false }, // DescribeProducers
	64: clusterRule(security.OpAlter),                                       // UnregisterBroker
	65: authDescribeTransactions,
	66: authListTransactions,
}

// noAuthzRule are the APIs a client may always send.
var noAuthzRule = map[int16]bool{17: true, 18: true, 36: true}

func clusterRule(op security.Operation) func(*authCheck) bool {
	return func(c *authCheck) bool {
		if c.cluster(op) {
			return false
		}
		return c.deny(codeCluster)
	}
}

func groupRule(op security.Operation, group func(kmsg.Request) string) func(*authCheck) bool {
	return func(c *authCheck) bool {
		if c.group(op, group(c.r.kreq)) {
			return false
		}
		return c.deny(codeGroup)
	}
}

func txnRule(id func(kmsg.Request) string) func(*authCheck) bool {
	return func(c *authCheck) bool {
		if c.txn(security.OpWrite, id(c.r.kreq)) {
			return false
		}
		return c.deny(codeTxn)
	}
}

func authProduce(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.ProduceRequest)
	if req.TransactionID != nil && !c.txn(security.OpWrite, *req.TransactionID) {
		if req.Acks == 0 {
			c.rep.finishNone()
			return true
		}
		return c.denyAll("Topics", codeTxn)
	}
	c.topics(security.OpWrite)
	return false
}

// authFetch: a follower's fetch needs CLUSTER_ACTION; a consumer's READ on
// each topic (by ID from v13).
func authFetch(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.FetchRequest)
	if replicaFetchID(c.r, req) >= 0 {
		if c.cluster(security.OpClusterAction) {
			return false
		}
		return c.denyFetch(func(string) bool { return false }, codeCluster)
	}
	return c.denyFetch(func(name string) bool { return c.topic(security.OpRead, name) }, codeTopic)
}

// denyFetch cuts the topics ok refuses out of a fetch, resolving IDs.
func (c *authCheck) denyFetch(ok func(name string) bool, code int16) bool {
	req := c.r.kreq.(*kmsg.FetchRequest)
	var cut []kmsg.FetchRequestTopic
	kept := req.Topics[:0:0]
	for _, rt := range req.Topics {
		name, known := c.n.fetchTopicName(c.r, rt)
		if known && !ok(name) {
			cut = append(cut, rt)
			continue
		}
		kept = append(kept, rt)
	}
	if len(cut) == 0 {
		return false
	}
	req.Topics = kept
	c.rep.addPatch(func(resp kmsg.Response) {
		fr := resp.(*kmsg.FetchResponse)
		for _, rt := range cut {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			fr.Topics = append(fr.Topics, st)
		}
	})
	return false
}

// authMetadata: listed topics need DESCRIBE (all-topics requests silently
// leave the others out); auto-creation needs CREATE on the cluster or the
// topic.
func authMetadata(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.MetadataRequest)
	if req.Topics == nil || (c.r.version == 0 && len(req.Topics) == 0) {
		c.rep.addPatch(func(resp kmsg.Response) {
			mr := resp.(*kmsg.MetadataResponse)
			kept := mr.Topics[:0]
			for _, t := range mr.Topics {
				if t.Topic != nil && c.allow(security.OpDescribe, security.ResourceTopic, *t.Topic, true) {
					kept = append(kept, t)
				}
			}
			mr.Topics = kept
		})
		return false
	}
	var cut []string
	kept := req.Topics[:0:0]
	canCreate := c.allow(security.OpCreate, security.ResourceCluster, security.ClusterName, true)
	for _, t := range req.Topics {
		if t.Topic == nil || c.topic(security.OpDescribe, *t.Topic) {
			kept = append(kept, t)
			if t.Topic != nil && !canCreate && !c.allow(security.OpCreate, security.ResourceTopic, *t.Topic, true) {
				req.AllowAutoTopicCreation = false
			}
			continue
		}
		cut = append(cut, *t.Topic)
	}
	if len(cut) == 0 {
		return false
	}
	req.Topics = kept
	c.rep.addPatch(func(resp kmsg.Response) {
		mr := resp.(*kmsg.MetadataResponse)
		for _, name := range cut {
			t := kmsg.NewMetadataResponseTopic()
			n := name
			t.Topic, t.ErrorCode = &n, codeTopic
			mr.Topics = append(mr.Topics, t)
		}
	})
	return false
}

func authOffsetCommit(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.OffsetCommitRequest)
	if !c.group(security.OpRead, req.Group) {
		return c.denyAll("Topics", codeGroup)
	}
	c.topics(security.OpRead)
	return false
}

// authOffsetFetch: DESCRIBE on the group, then on each topic (asked-for
// topics answer TOPIC_AUTHORIZATION_FAILED, all-topics fetches leave the
// others out).
func authOffsetFetch(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.OffsetFetchRequest)
	visible := func(name string) bool { return c.allow(security.OpDescribe, security.ResourceTopic, name, true) }
	if c.r.version < 8 {
		if !c.group(security.OpDescribe, req.Group) {
			if req.Topics == nil {
				return c.deny(codeGroup)
			}
			return c.denyAll("Topics", codeGroup)
		}
		if req.Topics != nil {
			c.topics(security.OpDescribe)
		} else {
			c.rep.addPatch(func(resp kmsg.Response) {
				or := resp.(*kmsg.OffsetFetchResponse)
				kept := or.Topics[:0]
				for _, t := range or.Topics {
					if visible(t.Topic) {
						kept = append(kept, t)
					}
				}
				or.Topics = kept
			})
		}
		return false
	}
	deniedGroups := map[string]bool{}
	for _, g := range req.Groups {
		if !c.group(security.OpDescribe, g.Group) {
			deniedGroups[g.Group] = true
		}
	}
	c.rep.addPatch(func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetFetchResponse)
		for i := range or.Groups {
			g := &or.Groups[i]
			if deniedGroups[g.Group] {
				g.ErrorCode, g.Topics = codeGroup, nil
				continue
			}
			kept := g.Topics[:0]
			for _, t := range g.Topics {
				if visible(t.Topic) {
					kept = append(kept, t)
				}
			}
			g.Topics = kept
		}
	})
	return false
}

// authFindCoordinator: DESCRIBE on the group or transactional ID.
func authFindCoordinator(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.FindCoordinatorRequest)
	rt, code := security.ResourceGroup, codeGroup
	if req.CoordinatorType == 1 {
		rt, code = security.ResourceTransactionalID, codeTxn
	}
	if c.r.version < 4 {
		if c.allow(security.OpDescribe, rt, req.CoordinatorKey, false) {
			return false
		}
		return c.deny(code)
	}
	var cut []string
	kept := req.CoordinatorKeys[:0:0]
	for _, k := range req.CoordinatorKeys {
		if c.allow(security.OpDescribe, rt, k, false) {
			kept = append(kept, k)
		} else {
			cut = append(cut, k)
		}
	}
	if len(cut) == 0 {
		return false
	}
	req.CoordinatorKeys = kept
	c.rep.addPatch(func(resp kmsg.Response) {
		fr := resp.(*kmsg.FindCoordinatorResponse)
		for _, k := range cut {
			co := kmsg.NewFindCoordinatorResponseCoordinator()
			co.Key, co.ErrorCode, co.NodeID = k, code, -1
			fr.Coordinators = append(fr.Coordinators, co)
		}
	})
	return false
}

func authDescribeGroups(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.DescribeGroupsRequest)
	var cut []string
	kept := req.Groups[:0:0]
	for _, g := range req.Groups {
		if c.group(security.OpDescribe, g) {
			kept = append(kept, g)
		} else {
			cut = append(cut, g)
		}
	}
	if len(cut) == 0 {
		return false
	}
	req.Groups = kept
	c.rep.addPatch(func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeGroupsResponse)
		for _, g := range cut {
			e := kmsg.NewDescribeGroupsResponseGroup()
			e.Group, e.ErrorCode = g, codeGroup
			dr.Groups = append(dr.Groups, e)
		}
	})
	return false
}

// authListGroups: DESCRIBE on the cluster lists every group; otherwise
// only the groups the principal may DESCRIBE.
func authListGroups(c *authCheck) bool {
	if c.allow(security.OpDescribe, security.ResourceCluster, security.ClusterName, true) {
		return false
	}
	c.rep.addPatch(func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListGroupsResponse)
		kept := lr.Groups[:0]
		for _, g := range lr.Groups {
			if c.allow(security.OpDescribe, security.ResourceGroup, g.Group, true) {
				kept = append(kept, g)
			}
		}
		lr.Groups = kept
	})
	return false
}

func authDeleteGroups(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.DeleteGroupsRequest)
	var cut []string
	kept := req.Groups[:0:0]
	for _, g := range req.Groups {
		if c.group(security.OpDelete, g) {
			kept = append(kept, g)
		} else {
			cut = append(cut, g)
		}
	}
	if len(cut) == 0 {
		return false
	}
	req.Groups = kept
	c.rep.addPatch(func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteGroupsResponse)
		for _, g := range cut {
			e := kmsg.NewDeleteGroupsResponseGroup()
			e.Group, e.ErrorCode = g, codeGroup
			dr.Groups = append(dr.Groups, e)
		}
	})
	return false
}

// authCreateTopics: CREATE on the cluster, or on each topic.
func authCreateTopics(c *authCheck) bool {
	if c.allow(security.OpCreate, security.ResourceCluster, security.ClusterName, true) {
		return false
	}
	c.topics(security.OpCreate)
	return false
}

func authDeleteTopics(c *authCheck) bool {
	keep := func(name string) (bool, int16) { return c.topic(security.OpDelete, name), codeTopic }
	if c.r.version < 6 {
		ds := splitEntries(c.r.kreq, "TopicNames", keep)
		if len(ds) > 0 {
			c.rep.addPatch(func(resp kmsg.Response) { answerDenied(resp, "Topics", ds) })
		}
		return false
	}
	c.split("Topics", keep)
	return false
}

// authInitProducerID: a transactional producer needs WRITE on its ID; an
// idempotent one IDEMPOTENT_WRITE on the cluster (or WRITE on any topic,
// KIP-679).
func authInitProducerID(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.InitProducerIDRequest)
	if req.TransactionalID != nil {
		if c.txn(security.OpWrite, *req.TransactionalID) {
			return false
		}
		return c.deny(codeTxn)
	}
	if c.allow(security.OpIdempotentWrite, security.ResourceCluster, security.ClusterName, true) || c.writesAnyTopic() {
		return false
	}
	c.cluster(security.OpIdempotentWrite) // audited
	return c.deny(codeCluster)
}

// writesAnyTopic reports whether the principal may WRITE some topic.
func (c *authCheck) writesAnyTopic() bool {
	for _, t := range c.n.meta.Topics() {
		if c.allow(security.OpWrite, security.ResourceTopic, t.Name, true) {
			return true
		}
	}
	return false
}

func authOffsetForLeaderEpoch(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	if req.ReplicaID >= 0 {
		if c.cluster(security.OpClusterAction) {
			return false
		}
		return c.denyAll("Topics", codeCluster)
	}
	c.topics(security.OpDescribe)
	return false
}

func authAddPartitionsToTxn(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.AddPartitionsToTxnRequest)
	if !c.txn(security.OpWrite, req.TransactionalID) {
		return c.denyAll("Topics", codeTxn)
	}
	c.topics(security.OpWrite)
	return false
}

func authAddOffsetsToTxn(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.AddOffsetsToTxnRequest)
	if !c.txn(security.OpWrite, req.TransactionalID) {
		return c.deny(codeTxn)
	}
	if !c.group(security.OpRead, req.Group) {
		return c.deny(codeGroup)
	}
	return false
}

func authTxnOffsetCommit(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.TxnOffsetCommitRequest)
	if !c.txn(security.OpWrite, req.TransactionalID) {
		return c.denyAll("Topics", codeTxn)
	}
	if !c.group(security.OpRead, req.Group) {
		return c.denyAll("Topics", codeGroup)
	}
	c.topics(security.OpRead)
	return false
}

// authConfigs: topic resources need op on the topic, broker resources op
// on the cluster.
func authConfigs(op security.Operation) func(*authCheck) bool {
	return func(c *authCheck) bool {
		var types map[string]kmsg.ConfigResourceType
		switch req := c.r.kreq.(type) {
		case *kmsg.DescribeConfigsRequest:
			types = map[string]kmsg.ConfigResourceType{}
			for _, r := range req.Resources {
				types[r.ResourceName] = r.ResourceType
			}
		case *kmsg.AlterConfigsRequest:
			types = map[string]kmsg.ConfigResourceType{}
			for _, r := range req.Resources {
				types[r.ResourceName] = r.ResourceType
			}
		case *kmsg.IncrementalAlterConfigsRequest:
			types = map[string]kmsg.ConfigResourceType{}
			for _, r := range req.Resources {
				types[r.ResourceName] = r.ResourceType
			}
		}
		cluster := -1 // decided once, on the first broker resource
		c.split("Resources", func(name string) (bool, int16) {
			if types[name] == kmsg.ConfigResourceTypeTopic {
				return c.topic(op, name), codeTopic
			}
			if cluster < 0 {
				cluster = 0
				if c.cluster(op) {
					cluster = 1
				}
			}
			return cluster == 1, codeCluster
		})
		return false
	}
}

func authOffsetDelete(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.OffsetDeleteRequest)
	if !c.group(security.OpDelete, req.Group) {
		return c.deny(codeGroup)
	}
	c.topics(security.OpRead)
	return false
}

func authDescribeTransactions(c *authCheck) bool {
	req := c.r.kreq.(*kmsg.DescribeTransactionsRequest)
	var cut []string
	kept := req.TransactionalIDs[:0:0]
	for _, id := range req.TransactionalIDs {
		if c.allow(security.OpDescribe, security.ResourceTransactionalID, id, false) {
			kept = append(kept, id)
		} else {
			cut = append(cut, id)
		}
	}
	if len(cut) == 0 {
		return false
	}
	req.TransactionalIDs = kept
	c.rep.addPatch(func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeTransactionsResponse)
		for _, id := range cut {
			s := kmsg.NewDescribeTransactionsResponseTransactionState()
			s.TransactionalID, s.ErrorCode = id, codeTxn
			dr.TransactionStates = append(dr.TransactionStates, s)
		}
	})
	return false
}

func authListTransactions(c *authCheck) bool {
	c.rep.addPatch(func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListTransactionsResponse)
		kept := lr.TransactionStates[:0]
		for _, s := range lr.TransactionStates {
			if c.allow(security.OpDescribe, security.ResourceTransactionalID, s.TransactionalID, true) {
				kept = append(kept, s)
			}
		}
		lr.TransactionStates = kept
	})
	return false
}

func opName(op security.Operation) string {
	return kmsg.ACLOperation(op).String()
}

func resourceName(rt security.ResourceType) string {
	return kmsg.ACLResourceType(rt).String()
}
