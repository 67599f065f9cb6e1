package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAdminTopicLifecycle(t *testing.T) {
	n := startNode(t, "", nil)
	adm := newAdmin(t, n.KafkaAddr())
	ctx := context.Background()

	ret := "3600000"
	r, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": &ret}, "life")
	if err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	if r.ID == [16]byte{} {
		t.Fatal("no topic ID returned")
	}
	r, _ = adm.CreateTopic(ctx, 2, 1, nil, "life")
	if !errors.Is(r.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("duplicate create: %v", r.Err)
	}
	for name, want := range map[string]error{"bad name!": kerr.InvalidTopicException, "..": kerr.InvalidTopicException, strings.Repeat("x", 250): kerr.InvalidTopicException} {
		r, _ := adm.CreateTopic(ctx, 1, 1, nil, name)
		if !errors.Is(r.Err, want) {
			t.Fatalf("create %q: %v, want %v", name, r.Err, want)
		}
	}
	bogus := "1"
	if r, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"no.such.config": &bogus}, "cfg1"); !errors.Is(r.Err, kerr.InvalidConfig) {
		t.Fatalf("unknown config: %v", r.Err)
	}
	neg := "-5"
	if r, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": &neg}, "cfg2"); !errors.Is(r.Err, kerr.InvalidConfig) {
		t.Fatalf("bad value: %v", r.Err)
	}
	total, local := "60000", "120000"
	if r, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": &total, "local.retention.ms": &local}, "cfg3"); !errors.Is(r.Err, kerr.InvalidConfig) {
		t.Fatalf("local retention above total: %v", r.Err)
	}
	if r, _ := adm.CreateTopic(ctx, 1, 3, nil, "rf3"); !errors.Is(r.Err, kerr.InvalidReplicationFactor) {
		t.Fatalf("rf 3 on one broker: %v", r.Err)
	}

	// Describe configs: the override and a default.
	rc, err := adm.DescribeTopicConfigs(ctx, "life")
	if err != nil {
		t.Fatal(err)
	}
	cfgs := map[string]kadm.Config{}
	for _, c := range rc[0].Configs {
		cfgs[c.Key] = c
	}
	if c := cfgs["retention.ms"]; c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms: %+v", c)
	}
	if c := cfgs["cleanup.policy"]; c.MaybeValue() != "delete" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("cleanup.policy: %+v", c)
	}

	// Incremental alter: set and delete.
	seg := "1048576"
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.bytes", Value: &seg}, {Op: kadm.DeleteConfig, Name: "retention.ms"}}, "life")
	if err != nil || ar[0].Err != nil {
		t.Fatalf("alter: %v %v", err, ar)
	}
	rc, _ = adm.DescribeTopicConfigs(ctx, "life")
	for _, c := range rc[0].Configs {
		if c.Key == "segment.bytes" && c.MaybeValue() != seg {
			t.Fatalf("segment.bytes after alter: %s", c.MaybeValue())
		}
		if c.Key == "retention.ms" && c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			t.Fatal("retention.ms override not deleted")
		}
	}
	bad := "nope"
	ar, _ = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: &bad}}, "life")
	if !errors.Is(ar[0].Err, kerr.InvalidConfig) {
		t.Fatalf("bad alter: %v", ar[0].Err)
	}

	// Partitions grow, never shrink.
	cp, err := adm.CreatePartitions(ctx, 2, "life")
	if err != nil || cp["life"].Err != nil {
		t.Fatalf("create partitions: %v %v", err, cp)
	}
	td, _ := adm.ListTopics(ctx, "life")
	if len(td["life"].Partitions) != 4 {
		t.Fatalf("partitions after grow: %d", len(td["life"].Partitions))
	}
	cp, _ = adm.UpdatePartitions(ctx, 2, "life")
	if !errors.Is(cp["life"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink: %v", cp["life"].Err)
	}

	// Describe cluster and log dirs.
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil || len(meta.Brokers) != 1 || meta.Cluster == "" {
		t.Fatalf("cluster metadata: %+v %v", meta, err)
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == "life" {
				found++
			}
		})
	})
	if found != 4 {
		t.Fatalf("log dirs list %d partitions of life, want 4", found)
	}

	// Delete.
	dr, err := adm.DeleteTopics(ctx, "life")
	if err != nil || dr["life"].Err != nil {
		t.Fatalf("delete: %v %v", err, dr)
	}
	td, _ = adm.ListTopics(ctx)
	if td.Has("life") {
		t.Fatal("topic still listed after delete")
	}
	dr, _ = adm.DeleteTopics(ctx, "life")
	if !errors.Is(dr["life"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("second delete: %v", dr["life"].Err)
	}
	// Recreating the name gives a fresh, empty topic.
	if r, _ := adm.CreateTopic(ctx, 1, 1, nil, "life"); r.Err != nil {
		t.Fatalf("recreate: %v", r.Err)
	}
	end, _ := adm.ListEndOffsets(ctx, "life")
	if o, _ := end.Lookup("life", 0); o.Offset != 0 {
		t.Fatalf("recreated topic end offset %d", o.Offset)
	}
}

func TestBrokerDynamicConfig(t *testing.T) {
	n := startNode(t, "", map[string]string{"log.retention.ms": "86400000"})
	adm := newAdmin(t, n.KafkaAddr())
	ctx := context.Background()
	bc, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got kadm.Config
	for _, c := range bc[0].Configs {
		if c.Key == "log.retention.ms" {
			got = c
		}
	}
	if got.MaybeValue() != "86400000" || got.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Fatalf("static setting: %+v", got)
	}
	createTopic(t, n.KafkaAddr(), "inherit", 1, nil)
	v := "false"
	if _, err := adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "auto.create.topics.enable", Value: &v}}); err != nil {
		t.Fatal(err)
	}
	// Auto-creation is now off.
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("not-created")
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = true
	resp, err := req.RequestWith(ctx, newClient(t, n.KafkaAddr()))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("metadata for unknown topic with auto-create off: code %d", resp.Topics[0].ErrorCode)
	}
}
