package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Consumer.Return.Errors = true
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	return cfg
}

func TestSaramaProduceConsumeEveryCodec(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.KafkaAddr()
	codecs := map[string]sarama.CompressionCodec{
		"none": sarama.CompressionNone, "gzip": sarama.CompressionGZIP, "snappy": sarama.CompressionSnappy,
		"lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD,
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "sarama-" + name
			createTopic(t, addr, topic, 2, nil)
			cfg := saramaConfig()
			cfg.Producer.Compression = codec
			cfg.Producer.Flush.Messages = 50
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			const count = 200
			var msgs []*sarama.ProducerMessage
			for i := 0; i < count; i++ {
				msgs = append(msgs, &sarama.ProducerMessage{
					Topic:     topic,
					Partition: int32(i % 2),
					Key:       sarama.StringEncoder(fmt.Sprintf("k%d", i)),
					Value:     sarama.StringEncoder(fmt.Sprintf("value number %d %s", i, name)),
					Headers:   []sarama.RecordHeader{{Key: []byte("i"), Value: []byte(fmt.Sprint(i))}},
				})
			}
			if err := prod.SendMessages(msgs); err != nil {
				t.Fatalf("send: %v", err)
			}
			// Offsets assigned per partition are dense and start at zero.
			next := map[int32]int64{}
			for _, m := range msgs {
				if m.Offset != next[m.Partition] {
					t.Fatalf("partition %d: offset %d, want %d", m.Partition, m.Offset, next[m.Partition])
				}
				next[m.Partition]++
			}
			cons, err := sarama.NewConsumer([]string{addr}, saramaConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			for p := int32(0); p < 2; p++ {
				pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
				if err != nil {
					t.Fatal(err)
				}
				for i := int64(0); i < next[p]; i++ {
					select {
					case m := <-pc.Messages():
						idx := int(m.Offset)*2 + int(p)
						want := fmt.Sprintf("value number %d %s", idx, name)
						if m.Offset != i || string(m.Value) != want || string(m.Key) != fmt.Sprintf("k%d", idx) {
							t.Fatalf("partition %d offset %d: %q / %q", p, m.Offset, m.Key, m.Value)
						}
						if len(m.Headers) != 1 || string(m.Headers[0].Value) != fmt.Sprint(idx) {
							t.Fatalf("headers: %v", m.Headers)
						}
					case err := <-pc.Errors():
						t.Fatal(err)
					case <-time.After(20 * time.Second):
						t.Fatalf("partition %d: timed out at offset %d", p, i)
					}
				}
				pc.Close()
			}
		})
	}
}
