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
			saramaRoundTrip(t, addr, "sarama-"+name, 2, codec, 200)
		})
	}
}

// saramaRoundTrip creates topic, produces count records with headers
// through sarama's sync producer (codec, acks=all) to partition i%parts and
// reads every partition back with sarama's consumer: dense offsets from
// zero, keys, values and headers intact.
func saramaRoundTrip(t *testing.T, addr, topic string, parts int32, codec sarama.CompressionCodec, count int) {
	t.Helper()
	createTopic(t, addr, topic, parts, nil)
	cfg := saramaConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Compression = codec
	cfg.Producer.Flush.Messages = 50
	prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	value := func(i int) string { return fmt.Sprintf("value number %d of %s", i, topic) }
	var msgs []*sarama.ProducerMessage
	for i := range count {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: int32(i) % parts,
			Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: sarama.StringEncoder(value(i)),
			Headers: []sarama.RecordHeader{{Key: []byte("i"), Value: []byte(fmt.Sprint(i))}}})
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
	for p := range parts {
		pc, err := cons.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for off := range next[p] {
			select {
			case m := <-pc.Messages():
				i := int(m.Offset)*int(parts) + int(p)
				if m.Offset != off || string(m.Key) != fmt.Sprintf("k%d", i) || string(m.Value) != value(i) {
					t.Fatalf("partition %d offset %d: %q / %q", p, m.Offset, m.Key, m.Value)
				}
				if len(m.Headers) != 1 || string(m.Headers[0].Value) != fmt.Sprint(i) {
					t.Fatalf("partition %d offset %d: headers %v", p, m.Offset, m.Headers)
				}
			case err := <-pc.Errors():
				t.Fatalf("partition %d: %v", p, err)
			case <-time.After(30 * time.Second):
				t.Fatalf("partition %d: timed out at offset %d", p, off)
			}
		}
		pc.Close()
	}
}
