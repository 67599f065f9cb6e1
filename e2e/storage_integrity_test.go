package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Local damage on disk (a truncated sealed segment, a zeroed active tail, a
// deleted index) after a clean stop and after SIGKILL: no bad-CRC batch
// reaches franz-go or kcat, consumers never see records after a gap, and
// the damage is logged and in /metrics.

const dmgTopic = "dmg"

// produceAckedSeq produces n records (8-byte sequence number + padding) with
// acks=all and returns their acknowledged offsets by sequence.
func produceAckedSeq(t *testing.T, addr, topic string, n int) []int64 {
	t.Helper()
	cl := newClient(t, addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	offs := make([]int64, n)
	for start := 0; start < n; start += 10 {
		var recs []*kgo.Record
		for seq := start; seq < min(n, start+10); seq++ {
			v := binary.BigEndian.AppendUint64(nil, uint64(seq))
			recs = append(recs, &kgo.Record{Topic: topic, Value: append(v, bytes.Repeat([]byte{'v'}, 150)...)})
		}
		for _, r := range cl.ProduceSync(context.Background(), recs...) {
			if r.Err != nil {
				t.Fatalf("produce: %v", r.Err)
			}
			offs[binary.BigEndian.Uint64(r.Record.Value)] = r.Record.Offset
		}
	}
	return offs
}

// consumeFrom reads with franz-go from offset until the partition end or
// until no progress for quiet; it fails on any CRC error and on a record
// that does not follow the previous one.
func consumeFrom(t *testing.T, addr, topic string, from int64, end int64, quiet time.Duration) (firstSeq, lastOffset int64, seqs []uint64) {
	t.Helper()
	c := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(from)}}))
	last := from - 1
	progress := time.Now()
	for last < end-1 && time.Since(progress) < quiet {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fs := c.PollFetches(ctx)
		cancel()
		fs.EachError(func(_ string, _ int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) {
				return
			}
			if strings.Contains(strings.ToLower(err.Error()), "crc") {
				t.Fatalf("franz-go got a bad-CRC batch: %v", err)
			}
			var ke *kerr.Error
			if errors.As(err, &ke) && !ke.Retriable {
				t.Fatalf("non-retriable fetch error: %v", err)
			}
		})
		for _, r := range fs.Records() {
			if r.Offset != last+1 {
				t.Fatalf("offset %d follows %d: a gap or a repeat", r.Offset, last)
			}
			last = r.Offset
			seqs = append(seqs, binary.BigEndian.Uint64(r.Value))
			progress = time.Now()
		}
	}
	return from, last, seqs
}

// kcatOffsets reads the partition with kcat from offset for up to d and
// returns the offsets it printed and its stderr.
func kcatOffsets(t *testing.T, kcat, addr, topic string, from int64, d time.Duration) ([]int64, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", addr, "-C", "-u", "-t", topic, "-p", "0", "-o", strconv.FormatInt(from, 10), "-e", "-f", "%o\n")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	_ = cmd.Run()
	var offs []int64
	for _, f := range strings.Fields(out.String()) {
		o, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("kcat printed %q", f)
		}
		offs = append(offs, o)
	}
	return offs, stderr.String()
}

func metricValue(t *testing.T, httpAddr, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(metricsText(t, httpAddr), "\n") {
		if strings.HasPrefix(line, series+" ") {
			v, _ := strconv.ParseFloat(strings.TrimPrefix(line, series+" "), 64)
			return v
		}
	}
	return -1
}

// stopClean stops a process node with SIGTERM, as an operator would.
func (p *procNode) stopClean(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

func segmentFiles(t *testing.T, dir string) []string {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "kafka", dmgTopic+"-0", "*.log"))
	sort.Strings(logs)
	if len(logs) < 6 {
		t.Fatalf("only %d segments", len(logs))
	}
	return logs
}

func TestLocalDamageNeverServed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills real processes")
	}
	kcat := kcatPath(t)
	bin := strataBinary(t)
	for _, kind := range []string{"truncate-sealed", "flip-sealed-header", "zero-active-tail", "delete-index"} {
		for _, clean := range []bool{true, false} {
			stop := "sigkill"
			if clean {
				stop = "clean"
			}
			t.Run(kind+"/"+stop, func(t *testing.T) {
				dir := t.TempDir()
				kafka, httpAddr := freeAddr(t), freeAddr(t)
				p := startProcNode(t, bin, dir, kafka, httpAddr, "log.segment.bytes=16384")
				// No cold copy: the damage has nothing to heal from. (With
				// one, the cold tier serves the range and the segment is
				// healed: TestTieringLocalFlipHealed.)
				off := "false"
				createTopic(t, kafka, dmgTopic, 1, map[string]*string{"remote.storage.enable": &off})
				const n = 2000
				acked := produceAckedSeq(t, kafka, dmgTopic, n)
				end := acked[n-1] + 1
				if clean {
					p.stopClean(t)
				} else {
					p.kill(t)
				}
				logs := segmentFiles(t, dir)
				victim := logs[3]
				wantDamage := false
				switch kind {
				case "truncate-sealed":
					fi, _ := os.Stat(victim)
					if err := os.Truncate(victim, fi.Size()*2/3); err != nil {
						t.Fatal(err)
					}
					wantDamage = true
				case "flip-sealed-header":
					// The second batch's length field: the header chain
					// breaks there. (A flip inside records, covered only
					// by the CRC, is the scrubber's to find:
					// storage.VerifySegment.)
					b, _ := os.ReadFile(victim)
					second := 12 + int(binary.BigEndian.Uint32(b[8:12]))
					b[second+9] ^= 0x40
					os.WriteFile(victim, b, 0o644)
					wantDamage = true
				case "zero-active-tail":
					victim = logs[len(logs)-1]
					b, _ := os.ReadFile(victim)
					if len(b) < 400 {
						t.Fatalf("active segment only %d bytes", len(b))
					}
					clear(b[len(b)-100:])
					os.WriteFile(victim, b, 0o644)
				case "delete-index":
					for _, l := range []string{logs[2], logs[len(logs)-1]} {
						if err := os.Remove(strings.TrimSuffix(l, ".log") + ".index"); err != nil {
							t.Fatal(err)
						}
					}
				}
				p = startProcNode(t, bin, dir, kafka, httpAddr)
				nodeLog := func() string { b, _ := os.ReadFile(p.logPath); return string(b) }

				// franz-go from the start: a contiguous prefix of what was
				// acknowledged, in order, never past a gap.
				_, last, seqs := consumeFrom(t, kafka, dmgTopic, 0, end, 4*time.Second)
				for i, s := range seqs {
					if s != uint64(i) || acked[s] != int64(i) {
						t.Fatalf("record %d is sequence %d (acknowledged at %d)", i, s, acked[s])
					}
				}
				// kcat agrees and reports no CRC error.
				koffs, kerrOut := kcatOffsets(t, kcat, kafka, dmgTopic, 0, 5*time.Second)
				for i, o := range koffs {
					if o != int64(i) {
						t.Fatalf("kcat: offset %d at position %d", o, i)
					}
				}
				if strings.Contains(strings.ToLower(kerrOut), "crc") {
					t.Fatalf("kcat reports a CRC error: %s", kerrOut)
				}
				damaged := metricValue(t, httpAddr, `strata_partition_damaged_segments{partition="0",topic="dmg"}`)
				switch kind {
				case "truncate-sealed", "flip-sealed-header":
					base, _ := strconv.ParseInt(strings.TrimSuffix(filepath.Base(victim), ".log"), 10, 64)
					if last+1 < base || last+1 >= end || int64(len(koffs)) != last+1 {
						t.Fatalf("franz-go stopped at %d, kcat at %d; damaged segment starts at %d, end %d", last+1, len(koffs), base, end)
					}
					if !strings.Contains(nodeLog(), "segment damaged") {
						t.Fatal("damage not logged")
					}
					if damaged != 1 {
						t.Fatalf("damaged segments metric %v", damaged)
					}
					// The segments after the damage are still served.
					next, _ := strconv.ParseInt(strings.TrimSuffix(filepath.Base(logs[4]), ".log"), 10, 64)
					_, after, seqs := consumeFrom(t, kafka, dmgTopic, next, end, 8*time.Second)
					if after != end-1 || len(seqs) == 0 || seqs[0] != uint64(next) {
						t.Fatalf("after the damage: read %d..%d of %d..%d", next, after, next, end-1)
					}
				case "zero-active-tail":
					if last+1 >= end || last+1 < end-10 {
						t.Fatalf("read up to %d of %d: the zeroed tail is at most one batch", last+1, end)
					}
					if int64(len(koffs)) != last+1 {
						t.Fatalf("kcat read %d, franz-go %d", len(koffs), last+1)
					}
					if !strings.Contains(nodeLog(), "truncating torn or corrupt segment tail") {
						t.Fatalf("truncation not logged:\n%s", nodeLog())
					}
					wantDamage = false
				case "delete-index":
					if last != end-1 || int64(len(koffs)) != end {
						t.Fatalf("read %d (kcat %d) of %d after deleting indexes", last+1, len(koffs), end)
					}
				}
				if !wantDamage && damaged != 0 {
					t.Fatalf("damaged segments metric %v", damaged)
				}
				fmt.Fprintf(os.Stderr, "%s: served %d of %d acknowledged records, damaged=%v\n", t.Name(), last+1, end, damaged)
			})
		}
	}
}
