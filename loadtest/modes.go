package loadtest

import (
	"context"
	"fmt"
	"time"
)

// Phase names.
const (
	PhaseWarmup       = "warmup"
	PhaseMeasure      = "measure"
	PhaseDrain        = "drain"
	PhaseWrite        = "write"
	PhaseReplay       = "replay"
	PhaseBacklogWrite = "backlog-write"
	PhaseBaseline     = "baseline"
)

// assignTimeout bounds how long consumers may take to join their groups
// before producing starts anyway.
const assignTimeout = 30 * time.Second

// startHotGroups starts the workload's consumer groups on the hot topics
// and waits for their assignments, so no record is produced before its
// readers are in place.
func (r *run) startHotGroups(ctx context.Context) ([]*groupState, error) {
	var groups []*groupState
	for i := range r.w.ConsumerGroups {
		g, err := r.startGroup(ctx, fmt.Sprintf("g%d", i), r.hot, true)
		if err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	if len(groups) > 0 && !r.waitAssigned(ctx, groups, assignTimeout) {
		r.notes = append(r.notes, "consumer groups were not fully assigned within 30s; producing started anyway")
	}
	return groups, nil
}

// runLive produces and consumes together: warm-up, the measured phase,
// then a drain in which consumers read what is left.
func (r *run) runLive(ctx context.Context) error {
	groups, err := r.startHotGroups(ctx)
	if err != nil {
		return err
	}
	ps, err := r.startProducers(ctx, r.hot, r.w.RecordsPerSecond(), nil)
	if err != nil {
		return err
	}
	live := true
	if r.w.Warmup > 0 {
		r.beginPhase(PhaseWarmup, timedProgress(r.w.Warmup.D()))
		live = sleepOrDone(ctx, r.w.Warmup.D(), ps.done)
	}
	if live {
		r.beginPhase(PhaseMeasure, r.measureProgress(r.w.Duration.D()))
		live = sleepOrDone(ctx, r.w.Duration.D(), ps.done)
	}
	r.drain(ctx, ps, groups)
	if !live {
		return fmt.Errorf("%w: %w", errStopped, ctx.Err())
	}
	return nil
}

// measureProgress reports the elapsed share of d, or of max_bytes when the
// run is bounded by bytes alone.
func (r *run) measureProgress(d time.Duration) func() float64 {
	if d > 0 {
		return timedProgress(d)
	}
	return func() float64 { return min(1, float64(r.sentBytes.Load())/float64(r.w.MaxBytes)) }
}

// drain stops the producers and gives the groups drain_timeout to read
// everything that was acknowledged.
func (r *run) drain(ctx context.Context, ps *producerSet, groups []*groupState) {
	startLag := max(1, r.lag())
	r.beginPhase(PhaseDrain, func() float64 { return 1 - min(1, float64(r.lag())/float64(startLag)) })
	ps.stopAndFlush(ctx, r.w.DrainTimeout.D())
	if len(groups) > 0 && !r.waitCaughtUp(ctx, groups, r.w.DrainTimeout.D()) {
		r.notes = append(r.notes, fmt.Sprintf("consumers had not read everything after drain_timeout %s (lag %d)", r.w.DrainTimeout, r.lag()))
	}
}

// backlogRecords is how many records make up backlog_bytes.
func (r *run) backlogRecords() int64 {
	size := max(1, int64(r.w.RecordSize))
	return max(1, int64(r.w.BacklogBytes)/size)
}

// writeBacklog produces backlog_bytes into topics at rate (0: max) and
// waits for every record to be acknowledged.
func (r *run) writeBacklog(ctx context.Context, phase string, topics []string, rate float64) error {
	total := r.backlogRecords()
	base := r.acked.Load()
	ps, err := r.startProducers(ctx, topics, rate, splitCount(total, r.w.Producers))
	if err != nil {
		return err
	}
	r.beginPhase(phase, func() float64 { return min(1, float64(r.acked.Load()-base)/float64(total)) })
	live := sleepOrDone(ctx, 0, ps.done)
	ps.stopAndFlush(ctx, r.w.DrainTimeout.D())
	if !live {
		return fmt.Errorf("%w: %w", errStopped, ctx.Err())
	}
	return nil
}

// replay starts one group per consumer_groups on topics from the earliest
// offset and waits until they have read everything or timeout passes. It
// returns the catch-up time and whether they caught up.
func (r *run) replay(ctx context.Context, label string, topics []string, timeout time.Duration) (time.Duration, bool, error) {
	var groups []*groupState
	start := time.Now()
	for i := range r.w.ConsumerGroups {
		g, err := r.startGroup(ctx, fmt.Sprintf("%s%d", label, i), topics, false)
		if err != nil {
			return 0, false, err
		}
		groups = append(groups, g)
	}
	caught := r.waitCaughtUp(ctx, groups, timeout)
	return time.Since(start), caught, nil
}

// runBacklog writes the backlog, then replays it from the earliest offset
// and measures the catch-up.
func (r *run) runBacklog(ctx context.Context) error {
	if err := r.writeBacklog(ctx, PhaseWrite, r.hot, r.w.RecordsPerSecond()); err != nil {
		return err
	}
	total := r.acked.Load() * int64(r.w.ConsumerGroups)
	base := r.consumed.Load()
	r.beginPhase(PhaseReplay, func() float64 { return min(1, float64(r.consumed.Load()-base)/float64(max(1, total))) })
	took, caught, err := r.replay(ctx, "replay", r.hot, r.w.Duration.D())
	if err != nil {
		return err
	}
	r.catchUp, r.caughtUp = took, &caught
	if !caught {
		r.notes = append(r.notes, fmt.Sprintf("the replay had not caught up after duration %s (lag %d)", r.w.Duration, r.lag()))
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", errStopped, ctx.Err())
	}
	return nil
}

// runMixed writes a backlog, runs the hot stream at the fixed rate without
// a replay (baseline), then with a replay of the backlog running, and
// compares the hot stream's latency between the two.
func (r *run) runMixed(ctx context.Context) error {
	if err := r.writeBacklog(ctx, PhaseBacklogWrite, r.backlog, 0); err != nil {
		return err
	}
	groups, err := r.startHotGroups(ctx)
	if err != nil {
		return err
	}
	ps, err := r.startProducers(ctx, r.hot, r.w.RecordsPerSecond(), nil)
	if err != nil {
		return err
	}
	live := true
	if r.w.Warmup > 0 {
		r.beginPhase(PhaseWarmup, timedProgress(r.w.Warmup.D()))
		live = sleepOrDone(ctx, r.w.Warmup.D(), ps.done)
	}
	if live {
		r.beginPhase(PhaseBaseline, timedProgress(r.w.Duration.D()))
		live = sleepOrDone(ctx, r.w.Duration.D(), ps.done)
	}
	if live {
		var backlogAcked int64
		for _, t := range r.backlog {
			i := r.topicIdx[t]
			for p := range r.ackedEnd[i] {
				backlogAcked += r.ackedEnd[i][p].Load()
			}
		}
		r.beginPhase(PhaseReplay, timedProgress(r.w.Duration.D()))
		took, caught, err := r.replay(ctx, "replay", r.backlog, r.w.Duration.D())
		if err != nil {
			r.drain(ctx, ps, groups)
			return err
		}
		r.catchUp, r.caughtUp = took, &caught
		if !caught {
			r.notes = append(r.notes, fmt.Sprintf("the replay of %d records had not caught up after duration %s", backlogAcked, r.w.Duration))
		}
		live = ctx.Err() == nil
	}
	r.drain(ctx, ps, groups)
	if !live {
		return fmt.Errorf("%w: %w", errStopped, ctx.Err())
	}
	return nil
}
