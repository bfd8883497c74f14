// Command kfakeserver runs franz-go's in-memory kfake cluster (one broker) as
// a process of its own on the address given as its first argument, so that
// the benchmarks can compare gregor with it on equal terms: both behind a
// process boundary, both with their CPU read from /proc. Given a second
// address, it serves there on /metrics the Go runtime's heap allocation
// counters under the names (and with the values) of Prometheus's Go
// collector, as gregor's metrics listener does, so that allocations per
// record are measured alike. It stops on SIGTERM or SIGINT.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/metrics"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if len(os.Args) != 2 && len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: kfakeserver HOST:PORT [METRICS_HOST:PORT]")
		os.Exit(2)
	}
	_, portText, err := net.SplitHostPort(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening on", c.ListenAddrs()[0])
	if len(os.Args) == 3 {
		if err := serveMetrics(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	c.Close()
}

// serveMetrics serves go_memstats_mallocs_total and
// go_memstats_alloc_bytes_total on /metrics at addr, computed from
// runtime/metrics as Prometheus's Go collector computes them.
func serveMetrics(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		samples := []metrics.Sample{
			{Name: "/gc/heap/allocs:objects"},
			{Name: "/gc/heap/tiny/allocs:objects"},
			{Name: "/gc/heap/allocs:bytes"},
		}
		metrics.Read(samples)
		fmt.Fprintf(w, "go_memstats_mallocs_total %d\n", samples[0].Value.Uint64()+samples[1].Value.Uint64())
		fmt.Fprintf(w, "go_memstats_alloc_bytes_total %d\n", samples[2].Value.Uint64())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return nil
}
