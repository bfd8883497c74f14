package actors

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/netio"
	"gregor/txn"
)

// txnMetrics count how the node's transactional asks of other actors and
// brokers end: the partitions' verifications and adds
// (AddPartitionsToTxn's broker form, Kafka's AddPartitionsToTxnManager
// VerificationFailureRate and VerificationTimeMs) and the WriteTxnMarkers
// requests its coordinators send, each by outcome.
type txnMetrics struct {
	// verifications counts the asks by outcome (outcomeOK, ...).
	verifications *prometheus.CounterVec
	// verificationTime is the time from an ask to its answer.
	verificationTime prometheus.Histogram
	// markerRequests counts the WriteTxnMarkers requests by outcome
	// (outcomeOK, ...).
	markerRequests *prometheus.CounterVec
}

// The outcomes of an ask or a WriteTxnMarkers request.
const (
	// outcomeOK: verified, added, or every marker written.
	outcomeOK = "ok"
	// outcomeRefused: the coordinator refused the ask (a fenced epoch, a
	// partition not in the transaction, ...), or the leader a marker.
	outcomeRefused = "refused"
	// outcomeFailed: no answer to give: the coordinator was unavailable,
	// moving or loading, or the connection to its broker failed.
	outcomeFailed = "failed"
	// outcomeTimedOut: no answer within the bounded wait.
	outcomeTimedOut = "timed_out"
)

func newTxnMetrics(reg *prometheus.Registry) *txnMetrics {
	m := &txnMetrics{
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gregor_txn_verifications_total",
			Help: "Transactional produce verifications and adds this node's partitions asked of transaction coordinators (AddPartitionsToTxn), by outcome: ok, refused, failed (coordinator unavailable), timed_out.",
		}, []string{"outcome"}),
		verificationTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gregor_txn_verification_duration_seconds",
			Help:    "Time from a partition's verification or add to the coordinator's answer (Kafka's VerificationTimeMs).",
			Buckets: prometheus.ExponentialBuckets(100e-6, 3, 12),
		}),
		markerRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gregor_txn_marker_requests_total",
			Help: "WriteTxnMarkers requests this node's transaction coordinators sent to partition leaders (this node's included), by outcome: ok (every marker written), refused (a marker refused), failed (not sent, or the connection failed), timed_out.",
		}, []string{"outcome"}),
	}
	for _, o := range []string{outcomeOK, outcomeRefused, outcomeFailed, outcomeTimedOut} {
		m.verifications.WithLabelValues(o)
		m.markerRequests.WithLabelValues(o)
	}
	reg.MustRegister(m.verifications, m.verificationTime, m.markerRequests)
	return m
}

// asked counts an ask answered code, or not answered in time (timedOut),
// after tookMs.
func (m *txnMetrics) asked(code int16, timedOut bool, tookMs int64) {
	outcome := outcomeRefused
	switch {
	case timedOut:
		outcome = outcomeTimedOut
	case code == 0:
		outcome = outcomeOK
	case txn.AskCode(code) == kerr.NotEnoughReplicas.Code:
		outcome = outcomeFailed
	}
	m.verifications.WithLabelValues(outcome).Inc()
	m.verificationTime.Observe(float64(tookMs) / 1000)
}

// markersSent counts a WriteTxnMarkers request: err is the client's
// error when it got no answer, else results are the markers' outcomes.
func (m *txnMetrics) markersSent(err error, results []markerResult) {
	outcome := outcomeOK
	switch {
	case errors.Is(err, netio.ErrRequestTimeout):
		outcome = outcomeTimedOut
	case err != nil:
		outcome = outcomeFailed
	default:
		for _, r := range results {
			if r.code != 0 {
				outcome = outcomeRefused
				break
			}
		}
	}
	m.markerRequests.WithLabelValues(outcome).Inc()
}
