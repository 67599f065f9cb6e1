package node

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// startHTTP serves /healthz (the process is up), /readyz (the node serves
// Kafka requests), /metrics (Prometheus) and, with --http-pprof,
// /debug/pprof/ (Go profiles). With --http-token-file every path but the
// two health checks needs "Authorization: Bearer <token>"; with
// --http-tls-cert-file it is served over TLS (reloaded like the Kafka
// listeners').
func (n *Node) startHTTP() error {
	token, certs, err := n.cfg.Security.httpSecurity()
	if err != nil {
		return err
	}
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
	mux.Handle("/metrics", requireToken(token, promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{})))
	if n.cfg.Security.HTTPPprof {
		// Profiles for diagnosing a running broker (CPU, heap, goroutines).
		mux.Handle("/debug/pprof/", requireToken(token, http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/profile", requireToken(token, http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/trace", requireToken(token, http.HandlerFunc(pprof.Trace)))
	}
	ln, err := net.Listen("tcp", n.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http-addr: %w", err)
	}
	if certs != nil {
		n.httpCerts = certs
		ln = tls.NewListener(ln, certs.ServerConfig())
	}
	n.httpLn = ln
	n.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelDebug)}
	go func() {
		if err := n.httpSrv.Serve(ln); err != nil && err != http.ErrServerClosed {
			n.log.Error("http server stopped", "err", err)
		}
	}()
	return nil
}

// requireToken guards h with a bearer token (none when token is empty),
// compared in constant time.
func requireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="strata"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (n *Node) stopHTTP() {
	if n.httpSrv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = n.httpSrv.Shutdown(ctx)
}
