// goproxy: Go's httputil.ReverseProxy in front of several backends, round
// robin, for gatewaybench (benches/src/bin/gatewaybench.rs) to measure
// grt's gateway against. It is the "Go-like baseline" of the gateway
// issue: what `NewSingleHostReverseProxy` grows into when its Director
// picks a backend per request, with the Transport's idle pool sized like
// nginx's `keepalive 64`.
//
//	go run . -listen 127.0.0.1:8083 -upstreams 127.0.0.1:9001,127.0.0.1:9002
//
// Standard library only, so Debian's golang-go builds it offline.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync/atomic"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8083", "address to serve on")
	upstreams := flag.String("upstreams", "127.0.0.1:9001,127.0.0.1:9002", "backends, comma-separated host:port")
	idle := flag.Int("keepalive", 64, "idle connections kept per backend (nginx's keepalive)")
	flag.Parse()

	backends := strings.Split(*upstreams, ",")
	var next uint64
	proxy := &httputil.ReverseProxy{
		Director: func(r *http.Request) {
			i := atomic.AddUint64(&next, 1) % uint64(len(backends))
			r.URL.Scheme = "http"
			r.URL.Host = backends[i]
		},
		Transport: &http.Transport{
			MaxIdleConns:        *idle * len(backends),
			MaxIdleConnsPerHost: *idle,
		},
	}
	log.Printf("goproxy: serving on http://%s in front of %v", *listen, backends)
	log.Fatal(http.ListenAndServe(*listen, proxy))
}
