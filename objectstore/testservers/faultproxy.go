package testservers

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// FaultProxy is a reverse proxy in front of a real server that answers a
// chosen number of requests itself with an error status, the way a
// throttling or failing store would, and forwards the rest.
type FaultProxy struct {
	// URL is http://127.0.0.1:PORT; HostPort the same without scheme.
	URL      string
	HostPort string

	mu struct {
		sync.Mutex
		failNext int
		status   int
		body     string
		match    func(*http.Request) bool
		failed   int
		total    int
	}
}

// StartFaultProxy proxies to target (http://host:port) until the test
// ends. The Host header is passed through unchanged, so S3 signatures made
// for the proxy's address still verify; rewriteHost sets it to the
// target's instead (for servers that route on Host, like fake-gcs-server).
func StartFaultProxy(tb testing.TB, target string, rewriteHost bool) *FaultProxy {
	tb.Helper()
	tu, err := url.Parse(target)
	if err != nil {
		tb.Fatalf("proxy target: %v", err)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(tu)
			if rewriteHost {
				r.Out.Host = tu.Host
			} else {
				r.Out.Host = r.In.Host
			}
		},
	}
	p := &FaultProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.mu.total++
		fail := p.mu.failNext > 0 && (p.mu.match == nil || p.mu.match(r))
		status, body := p.mu.status, p.mu.body
		if fail {
			p.mu.failNext--
			p.mu.failed++
		}
		p.mu.Unlock()
		if fail {
			if strings.HasPrefix(body, "<") {
				w.Header().Set("Content-Type", "application/xml")
			} else {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(status)
			w.Write([]byte(body))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	p.URL = srv.URL
	p.HostPort = strings.TrimPrefix(srv.URL, "http://")
	return p
}

// FailNext answers the next n requests matching match (nil: any) with
// status and body.
func (p *FaultProxy) FailNext(n, status int, body string, match func(*http.Request) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.failNext, p.mu.status, p.mu.body, p.mu.match = n, status, body, match
}

// Failed is the number of requests answered with an injected error.
func (p *FaultProxy) Failed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.failed
}

// S3SlowDown is the body S3 sends with a 503 when it throttles.
const S3SlowDown = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>1</RequestId></Error>`

// GCSRateLimited is the body GCS sends with a 429.
const GCSRateLimited = `{"error":{"code":429,"message":"The rate of change requests to the object is too high.","errors":[{"reason":"rateLimitExceeded","message":"rate limited"}]}}`
