package loadtest

import (
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// result assembles the Result once the run is over.
func (r *run) result() *Result {
	r.mu.Lock()
	phases := append([]PhaseResult(nil), r.mu.phases...)
	samples := append([]Sample(nil), r.mu.samples...)
	maxLag := r.mu.maxLag
	groups := append([]*groupState(nil), r.groups...)
	r.mu.Unlock()

	res := &Result{
		Version:  ResultVersion,
		RunID:    r.o.RunID,
		Name:     r.w.Name,
		Mode:     r.w.Mode,
		Target:   r.o.Target,
		Command:  r.o.Command,
		Started:  r.start,
		Host:     hostInfo(),
		Workload: *r.w,
		Topics:   r.allTopics(),
		Phases:   phases,
		Series:   samples,
		Errors:   r.errs.snapshot(),
		Notes:    r.notes,
		Counts: Counts{
			Sent: r.sent.Load(), Acked: r.acked.Load(), AckedBytes: r.ackedBytes.Load(),
			ProduceFailed: r.failed.Load(), Consumed: make(map[string]int64), Stored: -1,
		},
		Distributions: make(map[string][]PercentilePoint),
		Histograms:    make(map[string]string),
	}
	if len(samples) > 0 {
		res.Elapsed = samples[len(samples)-1].T
	}
	if first := r.firstSend.Load(); first != 0 {
		res.FirstProduce = max(0, time.Unix(0, first).Sub(r.start).Seconds())
	}
	for _, g := range groups {
		res.Counts.Consumed[g.name] = g.records.Load()
		pos, acked := r.positionOf(g)
		res.Counts.Groups = append(res.Counts.Groups, GroupCounts{
			Name: g.name, Topics: g.topics, Read: g.records.Load(), Position: pos, AckedInTopics: acked,
		})
	}
	if r.broker != nil {
		res.Broker = r.broker.result()
	}

	s := &res.Summary
	s.MaxConsumerLag = maxLag
	s.ErrorsTotal = r.errs.total()
	s.ProducedRecordTotal = r.acked.Load()
	s.ProducedBytesTotal = r.ackedBytes.Load()
	s.ConsumedBytesTotal = r.consBytes.Load()
	prodPhase, consPhase, latPhases := mainPhases(r.w.Mode)
	if p, ok := findPhase(phases, prodPhase); ok {
		s.ProducePhase, s.ProduceRecordsPerS, s.ProduceMBPerS = p.Name, p.ProduceRecPerS, p.ProduceMBPerS
		s.ProduceWireMBPerS = p.WireInMBPerS
	}
	if p, ok := findPhase(phases, consPhase); ok {
		s.ConsumePhase, s.ConsumeRecordsPerS, s.ConsumeMBPerS = p.Name, p.ConsumeRecPerS, p.ConsumeMBPerS
		s.ConsumeWireMBPerS = p.WireOutMBPerS
	}
	switch {
	case s.ProduceWireMBPerS != nil || s.ConsumeWireMBPerS != nil:
		s.WireSource = "broker " + metricWireIn + " / " + metricWireOut + " over the phase"
	case r.broker == nil:
		s.WireSource = "n/a: no broker metrics (kfake, or no --metrics-url)"
	default:
		s.WireSource = "n/a: the broker's metrics have no " + metricWireIn + " / " + metricWireOut
	}
	var ackHs, e2eHs []*hdrhistogram.Histogram
	for _, name := range latPhases {
		ackHs = append(ackHs, r.ack.phaseHist(name))
		e2eHs = append(e2eHs, r.e2e.phaseHist(name))
	}
	ack, e2e := mergeHists(ackHs...), mergeHists(e2eHs...)
	s.ProduceLatency, s.EndToEndLatency = percentilesOf(ack), percentilesOf(e2e)
	res.addDistribution("produce_ack", ack)
	res.addDistribution("end_to_end", e2e)
	if r.caughtUp != nil {
		s.CatchUpSeconds = r.catchUp.Seconds()
		s.CaughtUp = r.caughtUp
	}
	if r.w.Mode == ModeMixed {
		base, rep := r.e2e.phaseHist(PhaseBaseline), r.e2e.phaseHist(PhaseReplay)
		s.HotE2EP99Baseline, s.HotE2EP99Replay = percentilesOf(base).P99, percentilesOf(rep).P99
		s.HotAckP99Baseline = percentilesOf(r.ack.phaseHist(PhaseBaseline)).P99
		s.HotAckP99Replay = percentilesOf(r.ack.phaseHist(PhaseReplay)).P99
		res.addDistribution("end_to_end_without_replay", base)
		res.addDistribution("end_to_end_with_replay", rep)
	}
	return res
}

func (res *Result) addDistribution(name string, h *hdrhistogram.Histogram) {
	if h.TotalCount() == 0 {
		return
	}
	res.Distributions[name] = distributionOf(h)
	res.Histograms[name] = encodeHist(h)
}

// mainPhases names, per mode, the phase whose produce rate is the
// headline, the one whose consume rate is, and the phases whose latencies
// are summarised.
func mainPhases(mode string) (produce, consume string, latency []string) {
	switch mode {
	case ModeBacklog:
		return PhaseWrite, PhaseReplay, []string{PhaseWrite}
	case ModeMixed:
		return PhaseBaseline, PhaseReplay, []string{PhaseBaseline, PhaseReplay}
	}
	return PhaseMeasure, PhaseMeasure, []string{PhaseMeasure}
}

func findPhase(phases []PhaseResult, name string) (PhaseResult, bool) {
	for _, p := range phases {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return PhaseResult{}, false
}
