package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// procCPU returns a process's user+system CPU seconds and its peak RSS.
func procCPU(pid int) (float64, int64) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	var hwm int64
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			hwm = kb << 10
		}
	}
	return (ut + st) / 100, hwm
}

// BenchmarkBrokerThroughput is the broker-core workload: 1 KiB random
// records into 8 partitions from a franz-go producer (linger 5 ms, 1 MiB
// batches, acks=all) in this process, against a node in its own process
// with default durability (fsync before every acknowledgement); then the
// same records consumed from the page cache. It reports MB/s and the
// broker's CPU cores and peak RSS for each phase.
//
//	go test -run '^$' -bench BrokerThroughput -benchtime 1x ./e2e
func BenchmarkBrokerThroughput(b *testing.B) {
	bin := strataBinary(b)
	dir := b.TempDir()
	kafka, httpAddr := freeAddr(b), freeAddr(b)
	p := startProcNode(b, bin, dir, kafka, httpAddr)
	pid := p.cmd.Process.Pid
	const records = 2_000_000
	val := make([]byte, 1024)
	_, _ = rand.Read(val)
	for i := 0; i < b.N; i++ {
		topic := fmt.Sprintf("bench-%d", i)
		createTopic(b, kafka, topic, 8, nil)
		prod := newClient(b, kafka, kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.DisableIdempotentWrite(), kgo.MaxBufferedRecords(100_000))
		cpu0, _ := procCPU(pid)
		start := time.Now()
		errs := make(chan error, 1)
		for j := 0; j < records; j++ {
			prod.Produce(context.Background(), &kgo.Record{Topic: topic, Value: val}, func(_ *kgo.Record, err error) {
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			})
		}
		if err := prod.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		cpu1, rss := procCPU(pid)
		b.ReportMetric(float64(records*len(val))/el.Seconds()/1e6, "produce-MB/s")
		b.ReportMetric((cpu1-cpu0)/el.Seconds(), "produce-broker-cores")
		prod.Close()

		cons := newClient(b, kafka, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(8<<20))
		cpu0, _ = procCPU(pid)
		start = time.Now()
		var got int
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		for got < records && ctx.Err() == nil {
			fs := cons.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) {
				if len(r.Value) == len(val) {
					got++
				}
			})
		}
		cancel()
		el = time.Since(start)
		cpu1, rss2 := procCPU(pid)
		if got != records {
			b.Fatalf("consumed %d of %d", got, records)
		}
		b.ReportMetric(float64(records*len(val))/el.Seconds()/1e6, "consume-MB/s")
		b.ReportMetric((cpu1-cpu0)/el.Seconds(), "consume-broker-cores")
		b.ReportMetric(float64(max(rss, rss2))/(1<<20), "broker-peak-RSS-MiB")
		cons.Close()
	}
}
