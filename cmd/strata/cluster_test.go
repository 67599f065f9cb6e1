package main

import (
	"regexp"
	"strings"
	"testing"
)

// TestClusterStatusSingleNode: a single node is a one-voter cluster; status
// and nodes show it as the raft leader, live, with its partition counts.
func TestClusterStatusSingleNode(t *testing.T) {
	// A real node: the fake cluster serves no DescribeQuorum.
	bs := startGroupNode(t)
	topic := testTopicName(t)
	mustCLI(t, bs, "", "topic", "create", topic, "--partitions", "2", "--replication-factor", "1")

	r := mustCLI(t, bs, "", "cluster", "status")
	for _, re := range []string{
		`(?m)^cluster id:\s+\S+$`,
		`(?m)^raft leader:\s+1 \(term \d+, commit index \d+\)$`,
		`(?m)^ID\s+ADDRESS\s+RACK\s+ROLE\s+STATUS\s+METADATA LOG END\s+LAG\s+LEADERS\s+REPLICAS$`,
		`(?m)^1\s+` + regexp.QuoteMeta(bs) + `\s+-\s+voter \(leader\)\s+live\s+\d+\s+0\s+\d+\s+\d+$`,
	} {
		if !regexp.MustCompile(re).MatchString(r.Stdout) {
			t.Errorf("status lacks %s:\n%s", re, r.Stdout)
		}
	}
	row := regexp.MustCompile(`(?m)^1\s+.*\s(\d+)\s+(\d+)$`).FindStringSubmatch(r.Stdout)
	if row == nil || row[1] != row[2] || row[1] == "0" {
		t.Errorf("node 1 should lead and host every partition (at least %s's 2):\n%s", topic, r.Stdout)
	}

	r = mustCLI(t, bs, "", "cluster", "nodes")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 2 || !regexp.MustCompile(`^1\s+`+regexp.QuoteMeta(bs)+`\s+-\s+voter \(leader\)\s+live$`).MatchString(lines[1]) {
		t.Errorf("nodes:\n%s", r.Stdout)
	}
}

// TestClusterReassignSingleNode: the move commands on a one-node cluster
// plan nothing, accept a no-op move, refuse an unknown broker with Kafka's
// error, and refuse to decommission the only node.
func TestClusterReassignSingleNode(t *testing.T) {
	bs := startGroupNode(t)
	topic := testTopicName(t)
	mustCLI(t, bs, "", "topic", "create", topic, "--partitions", "2", "--replication-factor", "1")

	if r := mustCLI(t, bs, "", "cluster", "rebalance", "--dry-run"); !strings.Contains(r.Stdout, "nothing to move") {
		t.Errorf("rebalance: %s", r.Stdout)
	}
	if r := mustCLI(t, bs, "", "cluster", "reassign", "--topic", topic, "--partition", "0", "--replicas", "1", "--wait"); !strings.Contains(r.Stdout, topic+"/0: moving") {
		t.Errorf("no-op reassign: %s", r.Stdout)
	}
	r := runCLI(t, bs, "", "cluster", "reassign", "--topic", topic, "--partition", "1", "--replicas", "1,7")
	if r.Err == nil || !strings.Contains(r.Stdout, "INVALID_REPLICA_ASSIGNMENT") {
		t.Errorf("unknown broker: err %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	r = runCLI(t, bs, "", "cluster", "reassign", "--topic", topic, "--partition", "1", "--cancel")
	if r.Err == nil || !strings.Contains(r.Stdout, "NO_REASSIGNMENT_IN_PROGRESS") {
		t.Errorf("cancel with none: err %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}
	if r := mustCLI(t, bs, "", "cluster", "reassignments"); !strings.Contains(r.Stdout, "no reassignments in progress") {
		t.Errorf("reassignments: %s", r.Stdout)
	}
	if r := runCLI(t, bs, "", "cluster", "decommission", "1"); r.Err == nil || !strings.Contains(r.Err.Error(), "no other live node") {
		t.Errorf("decommission the only node: %v", r.Err)
	}
	if r := runCLI(t, bs, "", "cluster", "decommission", "9"); r.Err == nil || !strings.Contains(r.Err.Error(), "not registered") {
		t.Errorf("decommission an unknown node: %v", r.Err)
	}
}
