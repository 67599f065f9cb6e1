package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// seqProducer produces records whose values start with their sequence
// number (big-endian uint64), asynchronously, and records which sequences
// were acknowledged at which offset and which produces failed.
type seqProducer struct {
	wg     sync.WaitGroup
	mu     sync.Mutex
	acked  map[uint64]int64
	failed []error
}

// produceSeqAsync starts producing sequences [from, from+n) to partition
// 0's topic, each value padded to 8+pad bytes with fill.
func produceSeqAsync(cl *kgo.Client, topic string, from, n, pad int, fill byte) *seqProducer {
	p := &seqProducer{acked: map[uint64]int64{}}
	for seq := from; seq < from+n; seq++ {
		v := binary.BigEndian.AppendUint64(nil, uint64(seq))
		p.wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: append(v, bytes.Repeat([]byte{fill}, pad)...)}, func(r *kgo.Record, err error) {
			defer p.wg.Done()
			p.mu.Lock()
			defer p.mu.Unlock()
			if err != nil {
				p.failed = append(p.failed, err)
				return
			}
			p.acked[binary.BigEndian.Uint64(r.Value)] = r.Offset
		})
	}
	return p
}

// status returns how many records are acknowledged so far and the
// failures so far.
func (p *seqProducer) status() (acked int, failed []error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked), append([]error(nil), p.failed...)
}

// wait waits for every produce to finish and returns the failures.
func (p *seqProducer) wait() []error {
	p.wg.Wait()
	_, failed := p.status()
	return failed
}

// checkAckedSeqLog consumes the first total records of partition 0 and
// checks that each sequence stands once, at the offset it was acknowledged
// at: before holds the offsets of sequences [0, len(before)), p the rest.
func checkAckedSeqLog(t *testing.T, addr, topic string, before []int64, p *seqProducer, total int) {
	t.Helper()
	all := make([]int64, total)
	copy(all, before)
	p.mu.Lock()
	for seq, off := range p.acked {
		all[seq] = off
	}
	p.mu.Unlock()
	_, last, seqs := consumeFrom(t, addr, topic, 0, int64(total), 10*time.Second)
	if last != int64(total-1) || len(seqs) != total {
		t.Fatalf("consumed up to %d (%d records) of %d", last, len(seqs), total)
	}
	seen := map[uint64]bool{}
	for off, seq := range seqs {
		if seen[seq] {
			t.Fatalf("sequence %d twice", seq)
		}
		seen[seq] = true
		if all[seq] != int64(off) {
			t.Fatalf("sequence %d at offset %d, acknowledged at %d", seq, off, all[seq])
		}
	}
}
