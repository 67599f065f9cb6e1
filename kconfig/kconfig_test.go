package kconfig

import (
	"errors"
	"testing"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		broker bool
		name   string
		value  string
		err    error
	}{
		{true, "log.retention.ms", "-1", nil},
		{true, "log.retention.ms", "-2", ErrInvalid},
		{true, "log.retention.ms", "abc", ErrInvalid},
		{true, "log.segment.bytes", "100", ErrInvalid},
		{true, "log.segment.bytes", "3000000000", ErrInvalid},
		{true, "auto.create.topics.enable", "yes", ErrInvalid},
		{true, "auto.create.topics.enable", "false", nil},
		{true, "no.such.setting", "1", ErrUnknown},
		{false, "retention.ms", "1000", nil},
		{false, "cleanup.policy", "compact,delete", nil},
		{false, "cleanup.policy", "shred", ErrInvalid},
		{false, "message.timestamp.type", "LogAppendTime", nil},
		{false, "message.timestamp.type", "Whenever", ErrInvalid},
		{false, "log.retention.ms", "1", ErrUnknown},
		{false, "min.cleanable.dirty.ratio", "0.3", nil},
		{false, "min.cleanable.dirty.ratio", "x", ErrInvalid},
	}
	for _, c := range cases {
		var err error
		if c.broker {
			err = CheckBroker(c.name, c.value)
		} else {
			err = CheckTopic(c.name, c.value)
		}
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s=%s: %v, want %v", c.name, c.value, err, c.err)
		}
	}
}

func TestResolution(t *testing.T) {
	b, err := NewBroker(map[string]string{"log.retention.ms": "1000", "num.partitions": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewBroker(map[string]string{"log.retention.ms": "x"}); err == nil {
		t.Fatal("bad static setting accepted")
	}
	if v, src := b.Lookup("num.partitions"); v != "3" || src != SourceStaticBroker {
		t.Fatalf("num.partitions: %s %d", v, src)
	}
	if v, src := b.Lookup("log.segment.bytes"); v != "1073741824" || src != SourceDefault {
		t.Fatalf("log.segment.bytes: %s %d", v, src)
	}
	d := b.WithDynamic(map[string]string{"num.partitions": "5", "log.segment.bytes": "bad"})
	if v, src := d.Lookup("num.partitions"); v != "5" || src != SourceDynamicBroker {
		t.Fatalf("dynamic: %s %d", v, src)
	}
	if v, _ := d.Lookup("log.segment.bytes"); v != "1073741824" {
		t.Fatalf("invalid dynamic value used: %s", v)
	}
	topic := b.Topic(map[string]string{"segment.bytes": "2048"})
	if topic.Int64("segment.bytes") != 2048 || topic.Int64("retention.ms") != 1000 || topic.Get("cleanup.policy") != "delete" {
		t.Fatalf("topic resolution: %s %s %s", topic.Get("segment.bytes"), topic.Get("retention.ms"), topic.Get("cleanup.policy"))
	}
	if _, src := b.TopicLookup(nil, "retention.ms"); src != SourceStaticBroker {
		t.Fatalf("retention.ms source %d", src)
	}
}
