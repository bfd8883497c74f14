package benchmarks

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchStats is a consumer's view of how a broker served its fetches, taken
// through kgo's hooks: how many Fetch answers it read, their bytes and the
// time spent reading them (from the read's start, which waits for the first
// byte, to the last byte), the time from one answer's last byte to the next
// Fetch's write (the client's own work between fetches), and how many record
// batches the answers held. The layout of the data (records per batch) and
// the size of each answer decide how many round trips a consumer needs.
type fetchStats struct {
	mu               sync.Mutex
	fetches          int
	bytes            int64
	read, gap        time.Duration
	batches, records int64
	lastReadEnd      time.Time
	hasLastRead      bool
}

var (
	_ kgo.HookBrokerRead     = (*fetchStats)(nil)
	_ kgo.HookBrokerWrite    = (*fetchStats)(nil)
	_ kgo.HookFetchBatchRead = (*fetchStats)(nil)
)

func (s *fetchStats) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, writeWait, timeToWrite time.Duration, _ error) {
	if key != int16(kmsg.Fetch) {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hasLastRead {
		s.gap += now.Add(-timeToWrite).Sub(s.lastReadEnd)
		s.hasLastRead = false
	}
}

func (s *fetchStats) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, timeToRead time.Duration, err error) {
	if key != int16(kmsg.Fetch) || err != nil {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	s.bytes += int64(n)
	s.read += timeToRead
	s.lastReadEnd, s.hasLastRead = now, true
}

func (s *fetchStats) OnFetchBatchRead(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.FetchBatchMetrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	s.records += int64(m.NumRecords)
}

// report adds the averages per Fetch answer: fetch-KB (answer size),
// read-us (first byte awaited and all bytes read), gap-us (client work until
// the next Fetch), and rec/batch.
func (s *fetchStats) report(b *testing.B) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fetches == 0 {
		return
	}
	f := float64(s.fetches)
	b.ReportMetric(float64(s.bytes)/f/1000, "fetch-KB")
	b.ReportMetric(float64(s.read.Microseconds())/f, "read-us")
	b.ReportMetric(float64(s.gap.Microseconds())/f, "gap-us")
	if s.batches > 0 {
		b.ReportMetric(float64(s.records)/float64(s.batches), "rec/batch")
	}
}

// produceStats is a producer's view of the layout it sent: Produce
// requests, and the record batches and records they carried. A broker's
// cost per record is a cost per record plus costs per batch and per request
// spread over the records; with linger 0 the layout follows the broker's
// speed (records queue while requests are in flight), so it is reported
// beside the costs.
type produceStats struct {
	mu                         sync.Mutex
	requests, batches, records int64
}

var (
	_ kgo.HookBrokerWrite         = (*produceStats)(nil)
	_ kgo.HookProduceBatchWritten = (*produceStats)(nil)
)

func (s *produceStats) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key != int16(kmsg.Produce) || err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
}

func (s *produceStats) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	s.records += int64(m.NumRecords)
}

// report adds rec/batch and batch/req.
func (s *produceStats) report(b *testing.B) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batches == 0 || s.requests == 0 {
		return
	}
	b.ReportMetric(float64(s.records)/float64(s.batches), "rec/batch")
	b.ReportMetric(float64(s.batches)/float64(s.requests), "batch/req")
}

// requestStats is a client's view of its requests of some kinds: how many
// it sent and the mean time from a request's write to the end of its
// answer. Per transaction, the count tells a retried request (EndTxn told
// CONCURRENT_TRANSACTIONS, a produce refused) from one sent once, and the
// times tell where a transaction's wall time goes.
type requestStats struct {
	keys []kmsg.Key
	// counting is set inside the measured windows (the clients' warm-up
	// is left out).
	counting atomic.Bool
	mu       sync.Mutex
	n        map[int16]int64
	e2e      map[int16]time.Duration
}

var _ kgo.HookBrokerE2E = (*requestStats)(nil)

func newRequestStats(keys ...kmsg.Key) *requestStats {
	return &requestStats{keys: keys, n: map[int16]int64{}, e2e: map[int16]time.Duration{}}
}

func (s *requestStats) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if e.Err() != nil || !s.counting.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n[key]++
	s.e2e[key] += e.DurationE2E()
}

// report adds, per kind, <Name>/<per> (requests per unit, e.g. per
// transaction) and <Name>-us (mean microseconds per request).
func (s *requestStats) report(b *testing.B, units float64, per string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if units <= 0 {
		return
	}
	for _, k := range s.keys {
		n := s.n[int16(k)]
		if n == 0 {
			continue
		}
		name := k.Name()
		b.ReportMetric(float64(n)/units, name+"/"+per)
		b.ReportMetric(float64(s.e2e[int16(k)].Microseconds())/float64(n), name+"-us")
	}
}
