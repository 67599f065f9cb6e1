package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options are the settings of one run beyond the workload itself.
type Options struct {
	Workload Workload
	// Target labels the system under test in reports ("strata --local 1",
	// "kfake", an address).
	Target string
	// AllowRemote permits bootstrap addresses that are not loopback.
	AllowRemote bool
	// MetricsURL is the broker's Prometheus /metrics, scraped during the
	// run when set; MetricSelectors picks the metrics reported besides CPU
	// and RSS (DefaultMetricSelectors when nil).
	MetricsURL      string
	MetricSelectors []string
	// Progress receives the live display; nil for none. Interactive
	// selects the terminal bar instead of plain periodic lines.
	Progress    io.Writer
	Interactive bool
	// Command is recorded in the results for reproduction.
	Command string
	// RunID names the run's topics and groups; generated when empty.
	RunID string
}

// Run executes the workload and returns what it measured. It refuses
// non-loopback targets unless o.AllowRemote. Cancelling ctx stops the run
// early; the partial result is still returned with the context's error.
func Run(ctx context.Context, o Options) (*Result, error) {
	w := o.Workload
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if !o.AllowRemote {
		if err := checkLoopback(ctx, net.DefaultResolver, w.Bootstrap); err != nil {
			return nil, err
		}
	}
	files, err := loadPayloadFiles(&w)
	if err != nil {
		return nil, err
	}
	if o.RunID == "" {
		o.RunID = newRunID()
	}
	if o.MetricSelectors == nil {
		o.MetricSelectors = DefaultMetricSelectors
	}
	r := newRun(&w, o)
	r.files = files
	return r.execute(ctx)
}

func newRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// run is the state of one execution.
type run struct {
	w     *Workload
	o     Options
	start time.Time

	adm   *kadm.Client
	admCl *kgo.Client

	hot, backlog []string
	files        [][]byte // payload files' contents (payload kind file)
	topicIdx     map[string]int
	ackedEnd     [][]atomic.Int64 // [topic][partition] highest acked offset+1

	firstSend           atomic.Int64 // UnixNano of the first record handed to a producer
	sent, sentBytes     atomic.Int64
	acked, ackedBytes   atomic.Int64
	failed              atomic.Int64
	consumed, consBytes atomic.Int64

	ack, e2e *latencyRecorder
	errs     *errorCounts
	groups   []*groupState

	mu struct {
		sync.Mutex
		phase      string
		phaseStart time.Time
		base       [4]int64
		wireBase   wireReading
		progress   func() float64
		phases     []PhaseResult
		samples    []Sample
		maxLag     int64
	}
	broker   *brokerWatcher
	disp     display
	notes    []string
	catchUp  time.Duration
	caughtUp *bool
}

func newRun(w *Workload, o Options) *run {
	r := &run{
		w: w, o: o,
		ack: newLatencyRecorder(), e2e: newLatencyRecorder(),
		errs:     newErrorCounts(),
		topicIdx: make(map[string]int),
	}
	for i := range w.Topics {
		r.hot = append(r.hot, fmt.Sprintf("%s-%s-%d", w.TopicPrefix, o.RunID, i))
		if w.Mode == ModeMixed {
			r.backlog = append(r.backlog, fmt.Sprintf("%s-%s-backlog-%d", w.TopicPrefix, o.RunID, i))
		}
	}
	all := append(append([]string(nil), r.hot...), r.backlog...)
	r.ackedEnd = make([][]atomic.Int64, len(all))
	for i, t := range all {
		r.topicIdx[t] = i
		r.ackedEnd[i] = make([]atomic.Int64, w.Partitions)
	}
	if o.MetricsURL != "" {
		r.broker = newBrokerWatcher(o.MetricsURL, o.MetricSelectors)
	}
	r.disp = newDisplay(o.Progress, o.Interactive)
	return r
}

func (r *run) allTopics() []string {
	return append(append([]string(nil), r.hot...), r.backlog...)
}

func (r *run) execute(ctx context.Context) (*Result, error) {
	var err error
	r.admCl, err = kgo.NewClient(kgo.SeedBrokers(r.w.Bootstrap...), kgo.ClientID("strata-loadtest-admin"))
	if err != nil {
		return nil, fmt.Errorf("admin client: %w", err)
	}
	defer r.admCl.Close()
	r.adm = kadm.NewClient(r.admCl)
	if err := r.createTopics(ctx); err != nil {
		return nil, err
	}
	r.start = time.Now()
	sampleCtx, stopSampler := context.WithCancel(context.Background())
	samplerDone := make(chan struct{})
	go r.runSampler(sampleCtx, samplerDone)

	switch r.w.Mode {
	case ModeBacklog:
		err = r.runBacklog(ctx)
	case ModeMixed:
		err = r.runMixed(ctx)
	default:
		err = r.runLive(ctx)
	}
	r.endPhase()
	stopSampler()
	<-samplerDone
	r.disp.close()
	r.stopGroups()

	res := r.result()
	cleanCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res.Counts.Stored = r.storedRecords(cleanCtx)
	if !r.w.KeepTopics {
		if _, derr := r.adm.DeleteTopics(cleanCtx, r.allTopics()...); derr != nil {
			res.Notes = append(res.Notes, "could not delete the run's topics: "+derr.Error())
		}
	}
	return res, err
}

func (r *run) createTopics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var configs map[string]*string
	for k, v := range r.w.TopicConfigs {
		if configs == nil {
			configs = map[string]*string{}
		}
		configs[k] = &v
	}
	resp, err := r.adm.CreateTopics(ctx, int32(r.w.Partitions), int16(r.w.ReplicationFactor), configs, r.allTopics()...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, t := range resp.Sorted() {
		if t.Err != nil {
			return fmt.Errorf("create topic %s: %w", t.Topic, t.Err)
		}
	}
	return nil
}

// storedRecords sums end minus start offsets of the run's topics: what the
// broker holds. -1 when it cannot be read.
func (r *run) storedRecords(ctx context.Context) int64 {
	starts, err := r.adm.ListStartOffsets(ctx, r.allTopics()...)
	if err != nil {
		return -1
	}
	ends, err := r.adm.ListEndOffsets(ctx, r.allTopics()...)
	if err != nil {
		return -1
	}
	var n int64
	ok := true
	ends.Each(func(e kadm.ListedOffset) {
		if e.Err != nil {
			ok = false
			return
		}
		s, found := starts.Lookup(e.Topic, e.Partition)
		if !found || s.Err != nil {
			ok = false
			return
		}
		n += e.Offset - s.Offset
	})
	if !ok {
		return -1
	}
	return n
}

// noteAcked raises the acked end of a partition to offset+1.
func (r *run) noteAcked(topic string, partition int32, offset int64) {
	i, ok := r.topicIdx[topic]
	if !ok || partition < 0 || int(partition) >= len(r.ackedEnd[i]) {
		return
	}
	raise(&r.ackedEnd[i][partition], offset+1)
}

func raise(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// beginPhase closes the current phase and opens name; progress reports
// the new phase's completion for the display.
func (r *run) beginPhase(name string, progress func() float64) {
	wire := r.readWire()
	r.endPhaseAt(wire)
	r.mu.Lock()
	r.mu.phase = name
	r.mu.phaseStart = time.Now()
	r.mu.base = r.counters()
	r.mu.wireBase = wire
	r.mu.progress = progress
	r.mu.Unlock()
	r.ack.setPhase(name)
	r.e2e.setPhase(name)
	r.disp.phase(name)
}

func (r *run) counters() [4]int64 {
	return [4]int64{r.acked.Load(), r.ackedBytes.Load(), r.consumed.Load(), r.consBytes.Load()}
}

// readWire reads the broker's wire byte counters at a phase boundary
// (not ok without broker metrics).
func (r *run) readWire() wireReading {
	if r.broker == nil {
		return wireReading{}
	}
	return r.broker.wire(context.Background())
}

// minPhaseSamples is how many sample intervals a phase must last for its
// rates to mean anything; shorter phases are marked too short.
const minPhaseSamples = 2

// endPhase records the current phase's result, if one is open.
func (r *run) endPhase() { r.endPhaseAt(r.readWire()) }

// endPhaseAt is endPhase with the wire counters read at its end.
func (r *run) endPhaseAt(wire wireReading) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.phase == "" {
		return
	}
	now := time.Now()
	c := r.counters()
	secs := now.Sub(r.mu.phaseStart).Seconds()
	p := PhaseResult{
		Name:            r.mu.phase,
		Start:           r.mu.phaseStart.Sub(r.start).Seconds(),
		Seconds:         secs,
		ProducedRecords: c[0] - r.mu.base[0],
		ProducedBytes:   c[1] - r.mu.base[1],
		ConsumedRecords: c[2] - r.mu.base[2],
		ConsumedBytes:   c[3] - r.mu.base[3],
		ProduceLatency:  percentilesOf(r.ack.phaseHist(r.mu.phase)),
		EndToEndLatency: percentilesOf(r.e2e.phaseHist(r.mu.phase)),
	}
	p.TooShort = secs < minPhaseSamples*r.w.SampleInterval.D().Seconds()
	if base := r.mu.wireBase; base.ok && wire.ok && secs > 0 {
		in, out := wire.in-base.in, wire.out-base.out
		p.WireInBytes, p.WireOutBytes = &in, &out
		inRate, outRate := in/secs/1e6, out/secs/1e6
		p.WireInMBPerS, p.WireOutMBPerS = &inRate, &outRate
	}
	if secs > 0 {
		p.ProduceRecPerS = float64(p.ProducedRecords) / secs
		p.ProduceMBPerS = float64(p.ProducedBytes) / secs / 1e6
		p.ConsumeRecPerS = float64(p.ConsumedRecords) / secs
		p.ConsumeMBPerS = float64(p.ConsumedBytes) / secs / 1e6
	}
	r.mu.phases = append(r.mu.phases, p)
	r.mu.phase = ""
	r.ack.setPhase("")
	r.e2e.setPhase("")
}

// timedProgress reports the share of d elapsed since now.
func timedProgress(d time.Duration) func() float64 {
	start := time.Now()
	return func() float64 {
		if d <= 0 {
			return 0
		}
		return min(1, float64(time.Since(start))/float64(d))
	}
}

// runSampler takes one Sample per sample interval until ctx is done, then
// a last one, and closes done.
func (r *run) runSampler(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(r.w.SampleInterval.D())
	defer t.Stop()
	last, lastT := r.counters(), r.start
	if r.broker != nil {
		r.broker.scrape(ctx, 0)
	}
	for {
		select {
		case <-ctx.Done():
			r.takeSample(&last, &lastT)
			if r.broker != nil {
				r.broker.scrape(context.Background(), time.Since(r.start).Seconds())
			}
			return
		case <-t.C:
			r.takeSample(&last, &lastT)
			if r.broker != nil {
				r.broker.scrape(ctx, time.Since(r.start).Seconds())
			}
		}
	}
}

func (r *run) takeSample(last *[4]int64, lastT *time.Time) {
	now := time.Now()
	dt := now.Sub(*lastT).Seconds()
	if dt <= 0 {
		return
	}
	c := r.counters()
	ack := percentilesOf(r.ack.takeInterval())
	e2e := percentilesOf(r.e2e.takeInterval())
	s := Sample{
		T:              now.Sub(r.start).Seconds(),
		ProduceRecPerS: float64(c[0]-last[0]) / dt,
		ProduceMBPerS:  float64(c[1]-last[1]) / dt / 1e6,
		ConsumeRecPerS: float64(c[2]-last[2]) / dt,
		ConsumeMBPerS:  float64(c[3]-last[3]) / dt / 1e6,
		AckP50:         ack.P50, AckP99: ack.P99, AckP999: ack.P999, AckMax: ack.Max,
		E2EP50: e2e.P50, E2EP99: e2e.P99, E2EP999: e2e.P999, E2EMax: e2e.Max,
		Lag:    r.lag(),
		Errors: r.errs.total(),
	}
	*last, *lastT = c, now
	r.mu.Lock()
	s.Phase = r.mu.phase
	progress := r.mu.progress
	r.mu.samples = append(r.mu.samples, s)
	r.mu.maxLag = max(r.mu.maxLag, s.Lag)
	r.mu.Unlock()
	frac := 0.0
	if progress != nil {
		frac = progress()
	}
	r.disp.sample(s, frac)
}

// sleepOrDone waits d (forever when d is 0), or until done is closed or
// ctx is cancelled. It reports whether ctx is still live.
func sleepOrDone(ctx context.Context, d time.Duration, done <-chan struct{}) bool {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-done:
	case <-timeout:
	}
	return true
}

// errStopped marks a run stopped by its context.
var errStopped = errors.New("run stopped before completion")
