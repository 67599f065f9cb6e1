package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stratalog/strata/objectstore"
	"github.com/stratalog/strata/objectstore/open"
)

// remoteEntry is the part of a tiered partition's manifest entry in the
// store that the test checks.
type remoteEntry struct {
	Base        int64 `json:"base_offset"`
	Next        int64 `json:"next_offset"`
	LeaderEpoch int32 `json:"leader_epoch"`
	UploadedBy  int32 `json:"uploaded_by"`
}

// remoteChain reads the manifest entries of topic's partition from the
// shared store, in offset order.
func remoteChain(t *testing.T, storeURL, topic string, part int32) []remoteEntry {
	t.Helper()
	ctx := context.Background()
	st, err := open.Open(ctx, storeURL, open.Default())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []remoteEntry
	cursor := ""
	for {
		page, err := st.List(ctx, objectstore.ListOptions{Prefix: "tier/" + topic + "-", Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Objects {
			if !strings.Contains(o.Key, fmt.Sprintf("/%d/manifest/", part)) {
				continue
			}
			rc, err := st.GetRange(ctx, o.Key, 0, -1)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			var e remoteEntry
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("%s: %v", o.Key, err)
			}
			out = append(out, e)
		}
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}

func partMetric(t *testing.T, c *clusterNode, name, topic string, part int32) float64 {
	return metricValue(t, c.http, fmt.Sprintf(`%s{partition="%d",topic="%s"}`, name, part, topic))
}

// TestReplicationTieredFailover: an RF 3 topic with small segments and a
// small hot tail, tiered to the store the three nodes share. Followers
// drop the local segments their leader has uploaded (their disks stay
// bounded too); after a SIGKILL of the leader the new one resumes
// uploading exactly where the old one stopped, although its segments roll
// at other offsets, so the store holds one chain with no gap and no
// overlap; and every acknowledged record reads back from offset 0, across
// both leaders' uploads, at the offset it was acknowledged at.
func TestReplicationTieredFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster")
	}
	nodes := startTestClusterWith(t, 3, map[string]string{"remote.log.manifest.sync.interval.ms": "500"})
	t.Cleanup(func() { dumpLogsOnFailure(t, nodes) })
	bin := strataBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const topic = "tiered"
	cfg := map[string]*string{}
	for k, v := range map[string]string{"min.insync.replicas": "2", "segment.bytes": "65536", "local.retention.bytes": "262144"} {
		cfg[k] = &v
	}
	if r, err := newAdmin(t, nodes[0].kafka).CreateTopic(ctx, 2, 3, cfg, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	all := nodes[0].kafka + "," + nodes[1].kafka + "," + nodes[2].kafka
	prod := startProducing(t, all, topic, 512)
	acked := prod.acked
	await := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// Every replica, followers included, drops uploaded local segments.
	await("every replica of partition 0 past its first local segments", func() bool {
		for _, c := range nodes {
			if partMetric(t, c, "strata_tier_local_log_start_offset", topic, 0) <= 0 {
				return false
			}
		}
		return true
	})
	lead := leaders(t, nodes[0].kafka, topic)[0]
	victim := nodes[lead-1]
	oldEnd := int64(partMetric(t, victim, "strata_tier_remote_log_end_offset", topic, 0))
	for _, c := range nodes {
		t.Logf("node %d, partition 0: local start %.0f, remote end %.0f, high watermark %.0f", c.id,
			partMetric(t, c, "strata_tier_local_log_start_offset", topic, 0), partMetric(t, c, "strata_tier_remote_log_end_offset", topic, 0),
			partMetric(t, c, "strata_tier_high_watermark", topic, 0))
	}

	victim.signal(t, syscall.SIGKILL)
	victim.waitExit(t, 5*time.Second)
	t.Logf("leader %d of partition 0 killed with its remote end at %d", victim.id, oldEnd)
	var survivor *clusterNode
	for _, c := range nodes {
		if c != victim {
			survivor = c
			break
		}
	}
	var newLeader *clusterNode
	await("a new leader of partition 0 uploading two segments", func() bool {
		l, ok := leaders(t, survivor.kafka, topic)[0]
		if !ok || l < 1 || l == victim.id {
			return false
		}
		newLeader = nodes[l-1]
		uploads := 0
		for _, e := range remoteChain(t, victim.store, topic, 0) {
			if e.UploadedBy == newLeader.id {
				uploads++
			}
		}
		return uploads >= 2
	})
	victim.start(t, bin, 3, joinList(nodes))
	victim.waitReady(t, 60*time.Second)
	awaitFullISR(t, survivor.kafka, topic, 3, 60*time.Second)
	prod.Stop()

	chain := remoteChain(t, victim.store, topic, 0)
	prev, byNew := int64(0), 0
	for _, e := range chain {
		if e.Base != prev {
			t.Fatalf("remote chain of partition 0 has a gap or overlap at %d (previous end %d): %+v", e.Base, prev, chain)
		}
		if e.UploadedBy == newLeader.id && e.Base < oldEnd {
			t.Fatalf("new leader %d re-uploaded [%d, %d), below the remote end %d it took over", newLeader.id, e.Base, e.Next, oldEnd)
		}
		if e.UploadedBy == newLeader.id {
			byNew++
		}
		prev = e.Next
	}
	t.Logf("partition 0: %d remote segments up to offset %d, %d of them uploaded by the new leader %d: %+v", len(chain), prev, byNew, newLeader.id, chain)
	if byNew == 0 {
		t.Fatal("the new leader uploaded nothing")
	}
	read := checkAcked(t, survivor.kafka, topic, acked)
	t.Logf("%d records acknowledged (%d produce failures), %d read back from offset 0", acked.count(), acked.fails, read)
}
