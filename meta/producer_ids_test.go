package meta

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestAllocateProducerIDsUniqueAcrossRestartAndSnapshot(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t, t.TempDir())
	st := openReady(t, cfg)

	// Concurrent allocations never overlap.
	var mu sync.Mutex
	var blocks []ProducerIDBlock
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := st.AllocateProducerIDs(ctx, int32(i%2+1), 1000)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			blocks = append(blocks, b)
			mu.Unlock()
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for _, b := range blocks {
		if b.Count != 1000 || b.First%1000 != 0 || seen[b.First] {
			t.Fatalf("bad or overlapping block %+v in %+v", b, blocks)
		}
		seen[b.First] = true
	}
	if got := st.NextProducerID(); got != 8000 {
		t.Fatalf("next producer id %d, want 8000", got)
	}
	if _, err := st.AllocateProducerIDs(ctx, 1, 0); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("empty block: %v, want ErrInvalidCommand", err)
	}

	// Half the history from a snapshot, half from the log.
	if err := st.Snapshot(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AllocateProducerIDs(ctx, 1, 10); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2 := openReady(t, cfg)
	b, err := st2.AllocateProducerIDs(ctx, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if b.First != 8010 {
		t.Fatalf("block after restart starts at %d, want 8010", b.First)
	}
}
