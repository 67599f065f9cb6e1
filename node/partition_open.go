package node

import (
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/stratalog/strata/meta"
)

// openJob is a partition applyMetadata has to open.
type openJob struct {
	k    tp
	t    meta.Topic
	pc   *partConfig
	lead *leadership
}

// openParallelism bounds how many partitions open at once. Opening is
// mostly waiting on the disk (fsyncs of recovered segments, checkpoints and
// directories), so it runs well above the core count; see "Recovery" in
// docs/benchmarks.md.
func openParallelism() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// openAll opens the partitions of jobs in three parallel phases (logs,
// tiering attachment, producer state), each bounded by openParallelism,
// logs how long each took when there were any, and returns the partitions
// that opened with the errors of those that did not.
func (s *partitionSet) openAll(jobs []openJob) ([]*partition, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	var mu sync.Mutex
	var errs []error
	parts := make([]*partition, len(jobs))
	start := time.Now()
	forEachParallel(len(jobs), func(i int) {
		p, err := s.openLog(jobs[i].k, jobs[i].t, jobs[i].pc, jobs[i].lead)
		if err != nil {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			return
		}
		parts[i] = p
	})
	logsTook := time.Since(start)
	start = time.Now()
	forEachParallel(len(parts), func(i int) {
		if parts[i] == nil {
			return
		}
		if err := s.finishOpen(parts[i]); err != nil {
			parts[i] = nil
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
		}
	})
	attachTook := time.Since(start)
	start = time.Now()
	forEachParallel(len(parts), func(i int) {
		if parts[i] != nil {
			parts[i].loadProducers()
		}
	})
	producersTook := time.Since(start)
	opened := parts[:0]
	damaged := 0
	for _, p := range parts {
		if p != nil {
			opened = append(opened, p)
			damaged += p.log.DamagedSegments()
		}
	}
	s.n.log.Info("opened partitions", "partitions", len(opened), "failed", len(jobs)-len(opened),
		"parallel", openParallelism(), "logs", logsTook, "tiering_attach", attachTook,
		"producer_state", producersTook, "damaged_segments", damaged)
	return opened, errors.Join(errs...)
}

// forEachParallel calls f(0..n-1) on up to openParallelism goroutines and
// waits for them.
func forEachParallel(n int, f func(i int)) {
	workers := min(n, openParallelism())
	var next sync.Mutex
	i := 0
	var wg sync.WaitGroup
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				j := i
				i++
				next.Unlock()
				if j >= n {
					return
				}
				f(j)
			}
		}()
	}
	wg.Wait()
}
