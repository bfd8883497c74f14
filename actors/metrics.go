package actors

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// nodeMetrics is the node's Prometheus registry; it implements netio.Observer.
type nodeMetrics struct {
	registry      *prometheus.Registry
	connections   prometheus.Gauge
	connRefused   prometheus.Counter
	requests      *prometheus.HistogramVec
	netBytesIn    prometheus.Counter
	netBytesOut   prometheus.Counter
	topicBytesIn  *prometheus.CounterVec
	topicBytesOut *prometheus.CounterVec
	logEndOffset  *prometheus.GaugeVec
	logSizeBytes  *prometheus.GaugeVec
	// fetchesWaiting counts the Fetch requests parked until data or their
	// max wait (Kafka's fetch purgatory size).
	fetchesWaiting prometheus.Gauge
	// fetchesDropped counts the parked Fetch requests dropped because
	// their connection closed (fetch_conn_closed.go).
	fetchesDropped prometheus.Counter
	// fetchReadsSkipped and fetchReadsSent count a Fetch's partition
	// reads answered from the partition's fetch view and those sent to
	// its actor.
	fetchReadsSkipped, fetchReadsSent prometheus.Counter
	// fetchSessionsIncremental counts the Fetches served in a fetch
	// session (KIP-227) as incremental ones, fetchSessionPartitionsLeftOut
	// the partitions their answers left out (nothing new).
	fetchSessionsIncremental, fetchSessionPartitionsLeftOut prometheus.Counter
	// The log cleaner's work, node-wide.
	cleanerRuns, cleanerBytesRead, cleanerBytesWritten, cleanerRecordsRemoved prometheus.Counter
	apiKeyLabelFor                                                            [128]string
	// requestsSent counts the requests this node sends other nodes
	// (replica fetches, transaction asks and markers, the controller
	// channel, raft), by API; controllerRequests those its CONTROLLER
	// listener receives. With gregor_request_duration_seconds' counts they
	// give every message a workload costs each node.
	requestsSent, controllerRequests *prometheus.CounterVec
}

func newNodeMetrics() *nodeMetrics {
	m := &nodeMetrics{
		registry: prometheus.NewRegistry(),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gregor_connections", Help: "Open client connections."}),
		connRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_connections_refused_total", Help: "Connections closed at accept by max.connections."}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gregor_request_duration_seconds", Help: "Time from a request's arrival to its response, by API.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 14)}, []string{"api"}),
		netBytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_network_received_bytes_total", Help: "Bytes read from client connections."}),
		netBytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_network_sent_bytes_total", Help: "Bytes written to client connections."}),
		topicBytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gregor_topic_bytes_in_total", Help: "Record batch bytes appended, by topic."}, []string{"topic"}),
		topicBytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gregor_topic_bytes_out_total", Help: "Record batch bytes fetched, by topic."}, []string{"topic"}),
		logEndOffset: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gregor_log_end_offset", Help: "Log end offset, by partition."}, []string{"topic", "partition"}),
		logSizeBytes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gregor_log_size_bytes", Help: "Bytes on disk, by partition."}, []string{"topic", "partition"}),
		fetchesWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gregor_fetches_waiting", Help: "Fetch requests waiting for data or their max wait."}),
		fetchesDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_fetches_dropped_total", Help: "Waiting Fetch requests dropped because their connection closed."}),
		fetchReadsSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_fetch_partition_reads_from_view_total", Help: "Partitions of Fetch requests answered from the partition's published view, without a read."}),
		fetchReadsSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_fetch_partition_reads_total", Help: "Partitions of Fetch requests read through the partition's actor."}),
		fetchSessionsIncremental: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_fetch_session_incremental_fetches_total", Help: "Fetch requests served incrementally in a fetch session (KIP-227)."}),
		fetchSessionPartitionsLeftOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_fetch_session_partitions_left_out_total", Help: "Partitions incremental Fetch answers left out: nothing new since the session's last answer."}),
		cleanerRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_log_cleaner_runs_total", Help: "Compaction passes committed."}),
		cleanerBytesRead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_log_cleaner_read_bytes_total", Help: "Bytes the log cleaner read."}),
		cleanerBytesWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_log_cleaner_written_bytes_total", Help: "Bytes the log cleaner wrote."}),
		cleanerRecordsRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gregor_log_cleaner_removed_records_total", Help: "Records compaction removed."}),
		requestsSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gregor_requests_sent_total", Help: "Requests this node sent to other nodes, by API."}, []string{"api"}),
		controllerRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gregor_controller_listener_requests_total", Help: "Requests the CONTROLLER listener answered, by API."}, []string{"api"}),
	}
	m.registry.MustRegister(m.connections, m.connRefused, m.requests, m.netBytesIn, m.netBytesOut,
		m.topicBytesIn, m.topicBytesOut, m.logEndOffset, m.logSizeBytes, m.fetchesWaiting, m.fetchesDropped, m.fetchReadsSkipped, m.fetchReadsSent, m.fetchSessionsIncremental, m.fetchSessionPartitionsLeftOut,
		m.cleanerRuns, m.cleanerBytesRead, m.cleanerBytesWritten, m.cleanerRecordsRemoved, m.requestsSent, m.controllerRequests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for i := range m.apiKeyLabelFor {
		m.apiKeyLabelFor[i] = apiName(int16(i))
	}
	return m
}

func (m *nodeMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// ConnectionOpened implements netio.Observer.
func (m *nodeMetrics) ConnectionOpened() { m.connections.Inc() }

// ConnectionClosed implements netio.Observer.
func (m *nodeMetrics) ConnectionClosed() { m.connections.Dec() }

// ConnectionRefused implements netio.Observer.
func (m *nodeMetrics) ConnectionRefused() { m.connRefused.Inc() }

// RequestCompleted implements netio.Observer.
func (m *nodeMetrics) RequestCompleted(apiKey int16, latency time.Duration) {
	m.requests.WithLabelValues(m.apiLabel(apiKey)).Observe(latency.Seconds())
}

// apiLabel names apiKey for the metrics' api label.
func (m *nodeMetrics) apiLabel(apiKey int16) string {
	switch {
	case apiKey >= 0 && int(apiKey) < len(m.apiKeyLabelFor):
		return m.apiKeyLabelFor[apiKey]
	case apiKey == raftAPIKey:
		return raftAPI.Name
	}
	return "unknown"
}

// requestSent is netio.ClientConfig.RequestSent for the node's clients;
// a node without metrics (tests) counts nothing.
func (m *nodeMetrics) requestSent(apiKey int16) {
	if m == nil {
		return
	}
	m.requestsSent.WithLabelValues(m.apiLabel(apiKey)).Inc()
}

// controllerListenerObserver counts the requests of the CONTROLLER
// listener (gregor_controller_listener_requests_total); its bytes and
// connections are not counted.
type controllerListenerObserver struct{ m *nodeMetrics }

func (controllerListenerObserver) ConnectionOpened()  {}
func (controllerListenerObserver) ConnectionClosed()  {}
func (controllerListenerObserver) ConnectionRefused() {}
func (controllerListenerObserver) BytesReceived(int)  {}
func (controllerListenerObserver) BytesSent(int)      {}

// RequestCompleted implements netio.Observer.
func (o controllerListenerObserver) RequestCompleted(apiKey int16, _ time.Duration) {
	o.m.controllerRequests.WithLabelValues(o.m.apiLabel(apiKey)).Inc()
}

// BytesReceived implements netio.Observer.
func (m *nodeMetrics) BytesReceived(n int) { m.netBytesIn.Add(float64(n)) }

// BytesSent implements netio.Observer.
func (m *nodeMetrics) BytesSent(n int) { m.netBytesOut.Add(float64(n)) }

// partitionLabels are the labels of a partition's gauges.
func partitionLabels(topic string, partition int32) []string {
	return []string{topic, strconv.Itoa(int(partition))}
}
