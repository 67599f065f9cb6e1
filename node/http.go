package node

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// startHTTP serves /healthz (the process is up), /readyz (the node serves
// Kafka requests), /metrics (Prometheus) and /debug/pprof/ (Go profiles).
func (n *Node) startHTTP() error {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !n.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if n.cluster != nil && !n.cluster.Ready() {
			http.Error(w, "not ready: no live lease from the controller (fenced or not yet heard)", http.StatusServiceUnavailable)
			return
		}
		if !n.listener.healthy(time.Now()) {
			http.Error(w, "not ready: accepting Kafka connections fails", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready"+n.readyDetail())
	})
	mux.Handle("/metrics", promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}))
	// Profiles for diagnosing a running broker (CPU, heap, goroutines).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http-addr: %w", err)
	}
	n.httpLn = ln
	n.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := n.httpSrv.Serve(ln); err != nil && err != http.ErrServerClosed {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

func (n *Node) stopHTTP() {
	if n.httpSrv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = n.httpSrv.Shutdown(ctx)
}
