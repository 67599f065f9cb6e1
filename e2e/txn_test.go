package e2e

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/record/recordtest"
)

// idemBatch builds a batch of n records from producer pid at epoch with
// first sequence seq.
func idemBatch(pid int64, epoch int16, seq int32, n int, txn bool) []byte {
	recs := recordtest.Records(n, 16, 1)
	var attrs int16
	if txn {
		attrs = 0x10
	}
	b := recordtest.Batch(recordtest.Options{ProducerID: pid, FirstTimestamp: time.Now().UnixMilli(), Attributes: attrs}, recs)
	h := kmsg.RecordBatch{}
	if err := h.ReadFrom(b); err != nil {
		panic(err)
	}
	h.ProducerID, h.ProducerEpoch, h.FirstSequence = pid, epoch, seq
	return recordtest.Finish(h.AppendTo(nil))
}

// rawProduce sends one batch to topic[0] and returns the partition answer.
func rawProduce(t *testing.T, cl *kgo.Client, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

func initPID(t *testing.T, cl *kgo.Client) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func endOffset(t *testing.T, cl *kgo.Client, topic string, committed bool) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	if committed {
		req.IsolationLevel = 1
	}
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("ListOffsets: %v", err)
	}
	return resp.Topics[0].Partitions[0].Offset
}

// checkRawSequences drives one producer ID through duplicates, gaps and a
// stale epoch, starting with the partition at offset base and the
// producer's next sequence at seq.
func TestIdempotentRawDuplicatesAndGapsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	createTopic(t, n.KafkaAddr(), "idem", 1, nil)
	cl := newClient(t, n.KafkaAddr())
	pid, epoch := initPID(t, cl)
	pid2, _ := initPID(t, cl)
	if pid2 == pid {
		t.Fatalf("two InitProducerId calls gave the same producer id %d", pid)
	}

	expect := func(sp kmsg.ProduceResponseTopicPartition, code int16, base int64) {
		t.Helper()
		if sp.ErrorCode != code || (code == 0 && sp.BaseOffset != base) {
			t.Fatalf("produce: error %v base %d, want error %v base %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset, kerr.ErrorForCode(code), base)
		}
	}
	expect(rawProduce(t, cl, "idem", idemBatch(pid, epoch, 0, 3, false)), 0, 0)
	expect(rawProduce(t, cl, "idem", idemBatch(pid, epoch, 3, 2, false)), 0, 3)
	// Retries of either in-flight batch get their original offsets.
	expect(rawProduce(t, cl, "idem", idemBatch(pid, epoch, 0, 3, false)), 0, 0)
	expect(rawProduce(t, cl, "idem", idemBatch(pid, epoch, 3, 2, false)), 0, 3)
	// A gap is refused.
	expect(rawProduce(t, cl, "idem", idemBatch(pid, epoch, 9, 1, false)), kerr.OutOfOrderSequenceNumber.Code, 0)
	if end := endOffset(t, cl, "idem", false); end != 5 {
		t.Fatalf("log end %d after duplicates, want 5", end)
	}

	// The state survives a clean restart (snapshot)...
	cl.Close()
	n.Close()
	n = startNode(t, dir, nil)
	cl = newClient(t, n.KafkaAddr())
	expect(rawProduce(t, cl, "idem", idemBatch(pid, epoch, 3, 2, false)), 0, 3)
	expect(rawProduce(t, cl, "idem", idemBatch(pid, epoch, 5, 1, false)), 0, 5)
	expect(rawProduce(t, cl, "idem", idemBatch(pid, epoch, 7, 1, false)), kerr.OutOfOrderSequenceNumber.Code, 0)
	// A bumped epoch starts at 0, after which the old epoch is fenced.
	expect(rawProduce(t, cl, "idem", idemBatch(pid, epoch+1, 0, 1, false)), 0, 6)
	expect(rawProduce(t, cl, "idem", idemBatch(pid, epoch, 6, 1, false)), kerr.InvalidProducerEpoch.Code, 0)
	// Producer IDs stay unique across restarts.
	if p3, _ := initPID(t, cl); p3 == pid || p3 == pid2 {
		t.Fatalf("producer id %d reused after restart", p3)
	}

	// DescribeProducers shows the producer's state.
	dreq := kmsg.NewPtrDescribeProducersRequest()
	drt := kmsg.NewDescribeProducersRequestTopic()
	drt.Topic, drt.Partitions = "idem", []int32{0}
	dreq.Topics = append(dreq.Topics, drt)
	dresp, err := dreq.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ap := range dresp.Topics[0].Partitions[0].ActiveProducers {
		if ap.ProducerID == pid && ap.ProducerEpoch == int32(epoch+1) && ap.LastSequence == 0 && ap.CurrentTxnStartOffset == -1 {
			found = true
		}
	}
	if !found {
		t.Fatalf("DescribeProducers: %+v", dresp.Topics[0].Partitions[0].ActiveProducers)
	}
}

// TestIdempotentProducerAcrossSIGKILL produces with franz-go's idempotent
// producer while the broker is killed and restarted: every record lands
// exactly once.
func TestIdempotentProducerAcrossSIGKILL(t *testing.T) {
	bin := strataBinary(t)
	dir := t.TempDir()
	kafka, httpAddr := freeAddr(t), freeAddr(t)
	pn := startProcNode(t, bin, dir, kafka, httpAddr)
	createTopic(t, kafka, "idemkill", 2, nil)
	cl := newClient(t, kafka, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(1000),
		kgo.RetryTimeout(60*time.Second), kgo.ProducerLinger(5*time.Millisecond), kgo.DefaultProduceTopic("idemkill"))
	const total = 3000
	var wg sync.WaitGroup
	var mu sync.Mutex
	var perr []error
	ctx := context.Background()
	for i := range total {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i % 7)), Value: []byte(strconv.Itoa(i))}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				perr = append(perr, err)
				mu.Unlock()
			}
			wg.Done()
		})
		if i == total/2 {
			pn.kill(t)
			pn = startProcNode(t, bin, dir, kafka, httpAddr)
		}
	}
	wg.Wait()
	if len(perr) > 0 {
		t.Fatalf("%d produce errors, first %v", len(perr), perr[0])
	}
	recs := consumeN(t, kafka, "idemkill", total)
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[string(r.Value)] {
			t.Fatalf("record %s written twice", r.Value)
		}
		seen[string(r.Value)] = true
	}
}

func TestSaramaIdempotentProducer(t *testing.T) {
	n := startNode(t, "", nil)
	createTopic(t, n.KafkaAddr(), "saridem", 3, nil)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer([]string{n.KafkaAddr()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var msgs []*sarama.ProducerMessage
	for i := range 200 {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: "saridem", Key: sarama.StringEncoder(strconv.Itoa(i)), Value: sarama.StringEncoder(strconv.Itoa(i))})
	}
	if err := p.SendMessages(msgs); err != nil {
		t.Fatal(err)
	}
	consumeN(t, n.KafkaAddr(), "saridem", 200)
}

func txnClient(t *testing.T, addr, id string, opts ...kgo.Opt) *kgo.Client {
	return newClient(t, addr, append([]kgo.Opt{kgo.TransactionalID(id), kgo.RequiredAcks(kgo.AllISRAcks())}, opts...)...)
}

func produceTxn(t *testing.T, cl *kgo.Client, topic string, from, n int, commit bool) {
	t.Helper()
	ctx := context.Background()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := from; i < from+n; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
}

func TestTransactionsVisibility(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.KafkaAddr()
	createTopic(t, addr, "txv", 1, nil)
	cl := txnClient(t, addr, "txv-producer")
	produceTxn(t, cl, "txv", 0, 10, false)
	produceTxn(t, cl, "txv", 10, 10, true)
	produceTxn(t, cl, "txv", 20, 5, false)
	produceTxn(t, cl, "txv", 25, 5, true)

	committed := consumeN(t, addr, "txv", 15, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for _, r := range committed {
		v, _ := strconv.Atoi(string(r.Value))
		if !(v >= 10 && v < 20 || v >= 25 && v < 30) {
			t.Fatalf("read_committed returned aborted record %d", v)
		}
	}
	consumeN(t, addr, "txv", 30, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))

	// An open transaction holds back the last stable offset.
	raw := newClient(t, addr)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	before := endOffset(t, raw, "txv", false)
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "txv", Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if lso, hw := endOffset(t, raw, "txv", true), endOffset(t, raw, "txv", false); lso != before || hw != before+1 {
		t.Fatalf("open transaction: lso %d hw %d, want %d and %d", lso, hw, before, before+1)
	}
	if err := cl.EndTransaction(context.Background(), kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if lso, hw := endOffset(t, raw, "txv", true), endOffset(t, raw, "txv", false); lso != hw {
		t.Fatalf("after commit: lso %d hw %d", lso, hw)
	}

	// DescribeTransactions and ListTransactions see the producer.
	adm := newAdmin(t, addr)
	ds, err := adm.DescribeTransactions(context.Background(), "txv-producer")
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := ds["txv-producer"]; !ok || d.State != "CompleteCommit" {
		t.Fatalf("describe transactions: %+v", ds)
	}
	ls, err := adm.ListTransactions(context.Background(), nil, []string{"CompleteCommit"})
	if err != nil || len(ls) != 1 {
		t.Fatalf("list transactions: %+v %v", ls, err)
	}
}

func TestTransactionTimeoutAborts(t *testing.T) {
	n := startNode(t, "", map[string]string{"transaction.abort.timed.out.transaction.cleanup.interval.ms": "100"})
	addr := n.KafkaAddr()
	createTopic(t, addr, "txto", 1, nil)
	cl := txnClient(t, addr, "txto-producer", kgo.TransactionTimeout(time.Second))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "txto", Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	raw := newClient(t, addr)
	deadline := time.Now().Add(10 * time.Second)
	for endOffset(t, raw, "txto", true) != endOffset(t, raw, "txto", false) {
		if time.Now().After(deadline) {
			t.Fatal("timed-out transaction was never aborted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The abandoned producer is fenced: its commit fails.
	if err := cl.EndTransaction(context.Background(), kgo.TryCommit); err == nil {
		t.Fatal("commit of a timed-out transaction succeeded")
	}
	// read_committed sees nothing; read_uncommitted sees the 5 records.
	consumeN(t, addr, "txto", 5, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
	c := newClient(t, addr, kgo.ConsumeTopics("txto"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if fs := c.PollFetches(ctx); len(fs.Records()) != 0 {
		t.Fatalf("read_committed returned %d records of an aborted transaction", len(fs.Records()))
	}
}

func TestTransactionStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir, nil)
	addr := n.KafkaAddr()
	createTopic(t, addr, "txr", 1, nil)
	cl := txnClient(t, addr, "txr-producer")
	produceTxn(t, cl, "txr", 0, 5, true)
	// Leave a transaction open across a clean restart.
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "txr", Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	n.Close()
	n = startNode(t, dir, nil)
	addr = n.KafkaAddr()
	raw := newClient(t, addr)
	if lso, hw := endOffset(t, raw, "txr", true), endOffset(t, raw, "txr", false); lso >= hw {
		t.Fatalf("open transaction lost across restart: lso %d hw %d", lso, hw)
	}
	// A new producer with the same ID aborts it and carries on.
	cl2 := txnClient(t, addr, "txr-producer")
	produceTxn(t, cl2, "txr", 100, 3, true)
	if lso, hw := endOffset(t, raw, "txr", true), endOffset(t, raw, "txr", false); lso != hw {
		t.Fatalf("after the new producer: lso %d hw %d", lso, hw)
	}
	recs := consumeN(t, addr, "txr", 8, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	for _, r := range recs {
		if string(r.Value) == "open" {
			t.Fatal("the aborted open record is visible to read_committed")
		}
	}
}

// TestConsumeTransformProduceExactlyOnce runs franz-go's
// GroupTransactSession: every input record reaches the output exactly once
// and the group's offsets commit with the output.
func TestConsumeTransformProduceExactlyOnce(t *testing.T) {
	n := startNode(t, "", nil)
	addr := n.KafkaAddr()
	createTopic(t, addr, "eos-in", 2, nil)
	createTopic(t, addr, "eos-out", 2, nil)
	transformExactlyOnce(t, addr, addr, "eos", 300)
}

// transformExactlyOnce produces total records to prefix-in through
// produceAddr, then copies them to prefix-out with a GroupTransactSession
// (transactional ID prefix-txn, group prefix-group) bootstrapped at
// sessAddr, and checks every input reached the output exactly once and
// the group committed exactly total offsets with the output.
func transformExactlyOnce(t *testing.T, produceAddr, sessAddr, prefix string, total int) {
	t.Helper()
	inTopic, outTopic, group := prefix+"-in", prefix+"-out", prefix+"-group"
	in := newClient(t, produceAddr, kgo.DefaultProduceTopic(inTopic))
	for i := range total {
		if err := in.ProduceSync(context.Background(), &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(sessAddr), kgo.TransactionalID(prefix+"-txn"),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(inTopic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic(outTopic), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := 0
	for done < total {
		fs := sess.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("transformed %d of %d before timeout", done, total)
		}
		if err := fs.Err(); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("poll: %v", err)
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		recs := fs.Records()
		for _, r := range recs {
			sess.Produce(ctx, &kgo.Record{Value: []byte("out-" + string(r.Value))}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if committed {
			done += len(recs)
		}
	}
	out := consumeN(t, produceAddr, outTopic, total, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]bool{}
	for _, r := range out {
		if seen[string(r.Value)] {
			t.Fatalf("%s written twice", r.Value)
		}
		seen[string(r.Value)] = true
	}
	adm := newAdmin(t, produceAddr)
	offs, err := adm.FetchOffsets(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != int64(total) {
		t.Fatalf("group committed %d offsets in total, want %d", sum, total)
	}
}

// benchProduce produces b.N 1 KiB records to an 8-partition topic, in
// transactions of txnSize records when txnSize > 0, idempotently otherwise.
func benchProduce(b *testing.B, txnSize int) {
	n := startNode(b, "", nil)
	addr := n.KafkaAddr()
	createTopic(b, addr, "bench", 8, nil)
	opts := []kgo.Opt{kgo.DefaultProduceTopic("bench"), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(2 * time.Millisecond)}
	if txnSize > 0 {
		opts = append(opts, kgo.TransactionalID("bench-txn"))
	}
	cl := newClient(b, addr, opts...)
	val := make([]byte, 1024)
	ctx := context.Background()
	b.SetBytes(1024)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; {
		chunk := b.N - i
		if txnSize > 0 {
			chunk = min(chunk, txnSize)
			if err := cl.BeginTransaction(); err != nil {
				b.Fatal(err)
			}
		}
		for j := 0; j < chunk; j++ {
			cl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
				if err != nil {
					b.Error(err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if txnSize > 0 {
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				b.Fatal(err)
			}
		}
		i += chunk
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
}

func BenchmarkProduceIdempotent(b *testing.B) { benchProduce(b, 0) }
func BenchmarkProduceTxn100(b *testing.B)     { benchProduce(b, 100) }
func BenchmarkProduceTxn1000(b *testing.B)    { benchProduce(b, 1000) }
func BenchmarkProduceTxn10000(b *testing.B)   { benchProduce(b, 10000) }
