package tiering

import "testing"

func pid(n int32) ID { return ID{Topic: "t", Partition: n} }

func TestChooseCutLatestCommonInstant(t *testing.T) {
	in := []CutInput{
		// Busy: one instant per segment, the last not yet uploaded at 400.
		{ID: pid(0), RemoteEnd: 30, Spans: []Span{{100, 100, 10, 1}, {200, 200, 20, 1}, {300, 300, 30, 1}}},
		// Uploaded up to 200 only.
		{ID: pid(1), RemoteEnd: 7, Spans: []Span{{100, 100, 5, 1}, {200, 200, 7, 1}}},
		// Idle since 100.
		{ID: pid(2), RemoteEnd: 3, Spans: []Span{{100, 300, 3, 1}}},
		// Never written.
		{ID: pid(3), RemoteEmpty: true},
	}
	c := ChooseCut(in)
	if !c.Consistent || c.Tick != 200 {
		t.Fatalf("cut = %+v, want consistent at 200", c)
	}
	want := []struct{ off, dropped int64 }{{20, 10}, {7, 0}, {3, 0}, {0, 0}}
	for i, w := range want {
		pc := c.Partitions[i]
		if pc.Offset != w.off || pc.Dropped != w.dropped || !pc.Exact {
			t.Errorf("partition %d: %+v, want offset %d dropped %d exact", i, pc, w.off, w.dropped)
		}
	}
}

func TestChooseCutHigherEpochWins(t *testing.T) {
	// A deposed leader (epoch 1) and its successor (epoch 2) both told
	// instant 200; the successor's word holds.
	c := ChooseCut([]CutInput{{ID: pid(0), RemoteEnd: 50, Spans: []Span{{200, 200, 40, 1}, {200, 200, 35, 2}}}})
	if c.Tick != 200 || c.Partitions[0].Offset != 35 {
		t.Fatalf("cut = %+v", c)
	}
}

func TestChooseCutSkipsWhatTheStoreLacks(t *testing.T) {
	// An instant whose offset is past the remote end (entries dropped or
	// retention) is not usable.
	c := ChooseCut([]CutInput{{ID: pid(0), RemoteEnd: 20, Spans: []Span{{100, 100, 20, 1}, {200, 200, 25, 1}}}})
	if c.Tick != 100 || c.Partitions[0].Offset != 20 || c.Partitions[0].Dropped != 0 {
		t.Fatalf("cut = %+v", c)
	}
}

func TestChooseCutOfflinePartitionDoesNotHoldBack(t *testing.T) {
	in := []CutInput{
		{ID: pid(0), RemoteEnd: 90, Spans: []Span{{900, 900, 90, 3}}},
		// Its only replica died at ~150: nothing was written since.
		{ID: pid(1), RemoteEnd: 12, Spans: []Span{{100, 100, 12, 1}}, Offline: true},
	}
	c := ChooseCut(in)
	if !c.Consistent || c.Tick != 900 || c.Partitions[1].Offset != 12 {
		t.Fatalf("cut = %+v", c)
	}
	// Not marked offline, it holds the cut back to 100, where partition 0
	// is not known: no consistent instant.
	in[1].Offline = false
	c = ChooseCut(in)
	if c.Consistent {
		t.Fatalf("cut = %+v, want inconsistent", c)
	}
	if c.Partitions[0].Offset != 90 || c.Partitions[0].Exact {
		t.Fatalf("unknown partition keeps its chain: %+v", c.Partitions[0])
	}
}

func TestChooseCutWithoutInstants(t *testing.T) {
	c := ChooseCut([]CutInput{{ID: pid(0), RemoteEnd: 10}})
	if c.Consistent || c.Partitions[0].Offset != 10 || c.Partitions[0].Exact {
		t.Fatalf("cut = %+v", c)
	}
	if c := ChooseCut(nil); !c.Consistent {
		t.Fatalf("empty cut = %+v", c)
	}
}
