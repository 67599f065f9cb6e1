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
