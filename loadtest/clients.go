package loadtest

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// compressionCodec maps a workload's compression name to franz-go's codec.
func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("must be none, gzip, snappy, lz4 or zstd (got %q)", name)
}

// producerOpts are the client options of producer i of run id.
func producerOpts(w *Workload, runID string, i int) []kgo.Opt {
	codec, _ := compressionCodec(w.Compression)
	opts := []kgo.Opt{
		kgo.SeedBrokers(w.Bootstrap...),
		kgo.ClientID(fmt.Sprintf("strata-loadtest-%s-p%d", runID, i)),
		kgo.ProducerLinger(w.Linger.D()),
		kgo.ProducerBatchMaxBytes(int32(w.BatchMaxBytes)),
		kgo.ProducerBatchCompression(codec),
		kgo.MaxBufferedRecords(w.MaxBufferedRecords),
	}
	switch w.acksValue() {
	case 1:
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case 0:
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	default:
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if !w.Idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	if w.Transactions {
		opts = append(opts, kgo.TransactionalID(fmt.Sprintf("strata-loadtest-%s-p%d", runID, i)))
	}
	return opts
}

// consumerOpts are the client options of a member of group reading topics.
func consumerOpts(w *Workload, group string, topics []string, onAssigned func(n int)) []kgo.Opt {
	opts := []kgo.Opt{
		kgo.SeedBrokers(w.Bootstrap...),
		kgo.ClientID("strata-loadtest-" + group),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(64 << 20),
		kgo.FetchMaxPartitionBytes(int32(max(1<<20, 2*int64(w.BatchMaxBytes)))),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			n := 0
			for _, ps := range m {
				n += len(ps)
			}
			onAssigned(n)
		}),
	}
	if w.Transactions {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	return opts
}
