package node

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one served Kafka API: the versions it accepts and its handler.
// Each api_*.go file registers exactly one key from its init function, so the
// table below is also what ApiVersions advertises.
type api struct {
	min, max int16
	handle   func(n *Node, r *request, rep *reply)
}

var apis = map[int16]api{}

func register(key int16, min, max int16, h func(n *Node, r *request, rep *reply)) {
	if _, dup := apis[key]; dup {
		panic(fmt.Sprintf("api key %d registered twice", key))
	}
	if max > kmsg.RequestForKey(key).MaxVersion() {
		panic(fmt.Sprintf("api key %d: version %d beyond the codec's %d", key, max, kmsg.RequestForKey(key).MaxVersion()))
	}
	apis[key] = api{min: min, max: max, handle: h}
}

// dispatch runs the request's handler. A handler that panics closes the
// connection instead of the broker: network input must never crash it.
func (n *Node) dispatch(r *request, rep *reply) {
	defer func() {
		if p := recover(); p != nil {
			n.log.Error("request handler panicked; closing connection",
				"api", kmsg.NameForKey(r.key), "version", r.version, "panic", p, "stack", string(debug.Stack()))
			rep.finishClose()
		}
	}()
	if az := n.sec.authz.Load(); az != nil && !n.authorize(az, r, rep) {
		return
	}
	if n.quotaSet().Empty() {
		apis[r.key].handle(n, r, rep)
		return
	}
	start := time.Now()
	apis[r.key].handle(n, r, rep)
	n.recordRequestTime(r, time.Since(start))
}

// safeGo runs f on a new goroutine; a panic closes the request's connection
// instead of the broker.
func (n *Node) safeGo(r *request, rep *reply, f func()) {
	go func() {
		defer func() {
			if p := recover(); p != nil {
				n.log.Error("request goroutine panicked; closing connection",
					"api", kmsg.NameForKey(r.key), "panic", p, "stack", string(debug.Stack()))
				rep.finishClose()
			}
		}()
		f()
	}()
}
