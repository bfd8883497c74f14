package actors

import (
	"net/http"
	"net/http/pprof"
)

// debugHandler serves Go's profiling endpoints (net/http/pprof) under
// /debug/pprof/, for debug.listener: CPU and heap profiles, goroutine dumps
// and execution traces of a running broker. It has a mux of its own: the
// pprof package's init also registers on http.DefaultServeMux, which nothing
// in the node serves.
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // also the named profiles: heap, goroutine, allocs, block, mutex, ...
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
