package node

import (
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/quota"
)

// Client quotas, enforced as Kafka does since KIP-219: a request that puts
// its client over a quota is answered at once with throttle_time_ms, and
// the connection is not read again until the throttle ends; a fetch that
// would put it over is answered empty. Produce bytes are the request's
// record bytes, fetch bytes the response's; request time is the time the
// request spends in its handler on this node. Follower fetches,
// transaction markers and the SASL and ApiVersions exchanges are exempt.

// quotaState is the node's quotas: the configured set, rebuilt when the
// metadata's quota generation moves, and the measured use.
type quotaState struct {
	set atomic.Pointer[quota.Set]
	gen atomic.Uint64
	mgr *quota.Manager
}

// refreshQuotas swaps in the metadata's quotas when they changed, and
// the sampling window when quota.window.* did.
func (n *Node) refreshQuotas() {
	cfg := n.brokerCfg()
	n.quotas.mgr.SetWindow(quota.Window{Samples: int(cfg.Int64("quota.window.num")),
		Size: time.Duration(cfg.Int64("quota.window.size.seconds")) * time.Second})
	if g := n.meta.QuotaGeneration(); g != n.quotas.gen.Load() || n.quotas.set.Load() == nil {
		n.quotas.set.Store(n.meta.ClientQuotas())
		n.quotas.gen.Store(g)
	}
}

// quotaSet is the current set; nil or empty when no quota is configured.
func (n *Node) quotaSet() *quota.Set { return n.quotas.set.Load() }

// quotaUser is the user entity of the request's principal: its name
// without the User: prefix (ANONYMOUS when it did not authenticate).
func quotaUser(r *request) string {
	return strings.TrimPrefix(string(r.principal), "User:")
}

// quotaExempt says whether a request is outside the client quotas.
func quotaExempt(r *request) bool {
	switch r.key {
	case 17, 18, 36, 27: // SaslHandshake, ApiVersions, SaslAuthenticate, WriteTxnMarkers
		return true
	case 1:
		return replicaFetchID(r, r.kreq.(*kmsg.FetchRequest)) >= 0
	}
	return false
}

// recordProduceQuota counts a produce request's record bytes.
func (n *Node) recordProduceQuota(r *request, req *kmsg.ProduceRequest) {
	set := n.quotaSet()
	if set.Empty() {
		return
	}
	var bytes int
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			bytes += len(p.Records)
		}
	}
	d := n.quotas.mgr.Record(set, quota.ProducerByteRate, quotaUser(r), r.clientID, float64(bytes), time.Now())
	n.throttle(r, quota.ProducerByteRate, d)
}

// fetchOverQuota says whether a fetch response of bytes would put its
// client over its fetch quota; if so the throttle is set and the caller
// answers empty. Otherwise the bytes are counted.
func (n *Node) fetchOverQuota(r *request, bytes int64) bool {
	set := n.quotaSet()
	if set.Empty() || bytes == 0 {
		return false
	}
	d := n.quotas.mgr.RecordIfUnder(set, quota.ConsumerByteRate, quotaUser(r), r.clientID, float64(bytes), time.Now())
	n.throttle(r, quota.ConsumerByteRate, d)
	return d > 0
}

// recordRequestTime counts a request's handler time, in percent-seconds
// of one thread, against request_percentage.
func (n *Node) recordRequestTime(r *request, took time.Duration) {
	set := n.quotaSet()
	if set.Empty() || quotaExempt(r) {
		return
	}
	d := n.quotas.mgr.Record(set, quota.RequestPercentage, quotaUser(r), r.clientID, took.Seconds()*100, time.Now())
	n.throttle(r, quota.RequestPercentage, d)
}

// throttle gives the request a throttle of d (the largest of its quotas'
// wins) and mutes its connection until d has passed.
func (n *Node) throttle(r *request, key string, d time.Duration) {
	if d <= 0 {
		return
	}
	n.metrics.quotaThrottled.WithLabelValues(key).Inc()
	n.metrics.quotaThrottle.WithLabelValues(key).Add(d.Seconds())
	ms := int32(min(d.Milliseconds()+1, int64(1<<31-1)))
	for cur := r.throttleMs.Load(); ms > cur && !r.throttleMs.CompareAndSwap(cur, ms); cur = r.throttleMs.Load() {
	}
	until := time.Now().Add(d).UnixNano()
	for cur := r.conn.mutedUntil.Load(); until > cur && !r.conn.mutedUntil.CompareAndSwap(cur, until); cur = r.conn.mutedUntil.Load() {
	}
}

// applyThrottle sets a response's throttle_time_ms to the request's
// quota throttle when that is longer than what the handler set.
func applyThrottle(req *request, resp kmsg.Response) {
	ms := req.throttleMs.Load()
	if ms <= 0 {
		return
	}
	st, ok := resp.(kmsg.SetThrottleResponse)
	if !ok {
		return
	}
	if t, ok := resp.(kmsg.ThrottleResponse); ok {
		if cur, _ := t.Throttle(); cur >= ms {
			return
		}
	}
	st.SetThrottle(ms)
}

// awaitUnmuted holds the connection's reader while a quota throttle runs;
// false when the connection closed meanwhile.
func (c *conn) awaitUnmuted() bool {
	until := c.mutedUntil.Load()
	if until == 0 {
		return true
	}
	d := time.Until(time.Unix(0, until))
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}
