package node

import (
	"fmt"

	"github.com/stratalog/strata/security"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestEveryAPIHasAnAuthorizationRule: a served API without a rule would
// be open to every authenticated principal.
func TestEveryAPIHasAnAuthorizationRule(t *testing.T) {
	for key := range apis {
		if _, ok := authzRules[key]; !ok && !noAuthzRule[key] {
			t.Errorf("%s (key %d) has no authorization rule", kmsg.NameForKey(key), key)
		}
	}
	for key := range authzRules {
		if _, ok := apis[key]; !ok {
			t.Errorf("rule for %s (key %d), which is not served", kmsg.NameForKey(key), key)
		}
	}
}

// TestSplitEntriesAnswersCutTopics: the generic cut works on the shapes
// the rules use it for.
func TestSplitEntriesAnswersCutTopics(t *testing.T) {
	req := kmsg.NewPtrDeleteRecordsRequest()
	for _, name := range []string{"ok", "no"} {
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = name
		for p := int32(0); p < 2; p++ {
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	ds := splitEntries(req, "Topics", func(n string) (bool, int16) { return n == "ok", kerr.TopicAuthorizationFailed.Code })
	if len(req.Topics) != 1 || req.Topics[0].Topic != "ok" || len(ds) != 1 {
		t.Fatalf("left %+v, cut %+v", req.Topics, ds)
	}
	resp := kmsg.NewPtrDeleteRecordsResponse()
	answerDenied(resp, "Topics", ds)
	if len(resp.Topics) != 1 || resp.Topics[0].Topic != "no" || len(resp.Topics[0].Partitions) != 2 ||
		resp.Topics[0].Partitions[1].Partition != 1 || resp.Topics[0].Partitions[1].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("answer %+v", resp.Topics)
	}

	cp := kmsg.NewPtrCreatePartitionsRequest()
	ct := kmsg.NewCreatePartitionsRequestTopic()
	ct.Topic = "x"
	cp.Topics = append(cp.Topics, ct)
	ds = splitEntries(cp, "Topics", func(string) (bool, int16) { return false, 29 })
	cresp := kmsg.NewPtrCreatePartitionsResponse()
	answerDenied(cresp, "Topics", ds)
	if len(cp.Topics) != 0 || len(cresp.Topics) != 1 || cresp.Topics[0].ErrorCode != 29 {
		t.Fatalf("create partitions: %+v", cresp.Topics)
	}

	dc := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "1"
	dc.Resources = append(dc.Resources, r)
	ds = splitEntries(dc, "Resources", func(string) (bool, int16) { return false, 31 })
	dresp := kmsg.NewPtrDescribeConfigsResponse()
	answerDenied(dresp, "Resources", ds)
	if len(dresp.Resources) != 1 || dresp.Resources[0].ResourceType != kmsg.ConfigResourceTypeBroker || dresp.Resources[0].ErrorCode != 31 {
		t.Fatalf("describe configs: %+v", dresp.Resources)
	}

	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.TopicNames = []string{"a", "b"}
	ds = splitEntries(dt, "TopicNames", func(n string) (bool, int16) { return n == "a", 29 })
	tresp := kmsg.NewPtrDeleteTopicsResponse()
	answerDenied(tresp, "Topics", ds)
	if len(dt.TopicNames) != 1 || len(tresp.Topics) != 1 || *tresp.Topics[0].Topic != "b" || tresp.Topics[0].ErrorCode != 29 {
		t.Fatalf("delete topics: %+v", tresp.Topics)
	}
}

// BenchmarkAuthorizeProduce is the authorizer's cost on one produce
// request (one topic, one partition) with 10,000 ACLs, against the same
// dispatch step with the authorizer off.
func BenchmarkAuthorizeProduce(b *testing.B) {
	var acls []security.ACL
	for i := range 10000 {
		acls = append(acls, security.ACL{ResourceType: security.ResourceTopic, ResourceName: fmt.Sprintf("topic-%05d", i),
			PatternType: security.PatternLiteral, Principal: fmt.Sprintf("User:u%d", i%50), Host: "*",
			Operation: security.OpWrite, Permission: security.PermissionAllow})
	}
	az := &security.Authorizer{ACLs: security.NewACLIndex(acls)}
	n := &Node{}
	c := &conn{host: "10.0.0.1"}
	req := kmsg.NewPtrProduceRequest()
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "topic-04242"
	rt.Partitions = append(rt.Partitions, kmsg.NewProduceRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	r := &request{key: 0, version: 9, kreq: req, conn: c, principal: "User:u42"}
	b.ReportAllocs()
	for b.Loop() {
		rep := &reply{}
		if !n.authorize(az, r, rep) || len(rep.patches) != 0 {
			b.Fatal("denied")
		}
	}
}
