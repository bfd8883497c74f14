package benchmarks

import (
	"context"
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	latencyRate    = 10_000 // records per second
	latencyRecords = 25_000 // measured records per iteration (2.5 s)
	latencyWarmup  = 1_000  // paced records before measuring
	latencySize    = 100
)

// BenchmarkLatency: a producer paced at 10k records/s (linger 0, acks all)
// and a consumer reading concurrently; latency is receive time minus the
// Produce call's time, both on this process's monotonic clock.
func BenchmarkLatency(b *testing.B) {
	b.Run("rate=10k/rec=100B/gregor", func(b *testing.B) { benchLatency(b, gregorBroker(b)) })
	b.Run("rate=10k/rec=100B/ref-kfake", func(b *testing.B) { benchLatency(b, kfakeBroker(b)) })
	b.Run("rate=10k/rec=100B/ref-kfake-process", func(b *testing.B) { benchLatency(b, kfakeProcessBroker(b)) })
}

func benchLatency(b *testing.B, t *target) {
	b.StopTimer()
	b.ResetTimer() // starting the broker is not part of it
	n := scaled(latencyRecords)
	var all []time.Duration
	var paced time.Duration
	var cost brokerCost
	for i := 0; i < b.N; i++ {
		topic := t.createTopic(b, "latency", 1)
		lat, took := latencyRun(b, t, topic, n, &cost)
		all = append(all, lat...)
		paced += took
		t.deleteTopic(b, topic)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		i := min(len(all)-1, int(p*float64(len(all))))
		return float64(all[i].Nanoseconds()) / 1e3
	}
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(all)), "ns/op")
	b.ReportMetric(pct(0.50), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
	b.ReportMetric(pct(0.999), "p999-us")
	b.ReportMetric(float64(len(all))/paced.Seconds(), "records/s")
	if cost.cpu > 0 && cost.records > 0 {
		b.ReportMetric(float64(cost.cpu.Nanoseconds())/float64(cost.records), "ns-cpu/rec")
		b.ReportMetric(float64(cost.switches)*1000/float64(cost.records), "switches/krec")
	}
}

// brokerCost is what a broker process spent on the paced records (warm-up
// included): its CPU time and context switches.
type brokerCost struct {
	cpu      time.Duration
	switches int64
	records  int
}

// latencyRun produces warm-up plus n paced records and returns the measured
// records' latencies and how long producing them took; it adds the
// broker's cost of the paced run to cost.
func latencyRun(b *testing.B, t *target, topic string, n int, cost *brokerCost) ([]time.Duration, time.Duration) {
	b.Helper()
	prod, err := kgo.NewClient(producerOpts(t.addr, kgo.AllISRAcks())...)
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	cons, err := kgo.NewClient(
		kgo.SeedBrokers(t.addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(10*time.Millisecond),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	base := time.Now()
	total := latencyWarmup + n
	lat := make([]time.Duration, 0, n)
	got := make(chan struct{}, 1) // the first record arrived
	done := make(chan error, 1)
	go func() {
		seen := 0
		for seen < total {
			fs := cons.PollFetches(ctx)
			now := time.Since(base)
			if ctx.Err() != nil {
				done <- ctx.Err()
				return
			}
			var ferr error
			fs.EachError(func(_ string, _ int32, err error) { ferr = err })
			if ferr != nil {
				done <- ferr
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				seen++
				idx := int(binary.BigEndian.Uint64(r.Value[8:]))
				if idx >= latencyWarmup {
					sent := time.Duration(binary.BigEndian.Uint64(r.Value))
					lat = append(lat, now-sent)
				}
			})
			select {
			case got <- struct{}{}:
			default:
			}
		}
		done <- nil
	}()

	var (
		mu       sync.Mutex
		firstErr error
	)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		}
	}
	produce := func(i int) {
		v := make([]byte, latencySize)
		binary.BigEndian.PutUint64(v, uint64(time.Since(base)))
		binary.BigEndian.PutUint64(v[8:], uint64(i))
		prod.Produce(ctx, &kgo.Record{Topic: topic, Value: v}, promise)
	}

	// One record first, so the consumer has found the partition before
	// the paced run starts.
	produce(0)
	select {
	case <-got:
	case err := <-done:
		t.fail(b, "%s: consumer: %v", t.name, err)
	case <-ctx.Done():
		t.fail(b, "%s: the first record never arrived", t.name)
	}

	interval := time.Second / latencyRate
	stopPerf := startPerf(b, t)
	cpu0, switches0 := t.cpu(b), contextSwitches(t.processes())
	start := time.Now()
	var measuredStart time.Time
	b.StartTimer()
	for i := 1; i < total; i++ {
		if i == latencyWarmup {
			measuredStart = time.Now()
		}
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		produce(i)
	}
	took := time.Since(measuredStart)
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		err = context.DeadlineExceeded
	}
	b.StopTimer()
	cost.cpu += t.cpu(b) - cpu0
	cost.switches += contextSwitches(t.processes()) - switches0
	cost.records += total - 1
	stopPerf()
	mu.Lock()
	perr := firstErr
	mu.Unlock()
	if perr != nil {
		t.fail(b, "%s: produce: %v", t.name, perr)
	}
	if err != nil {
		t.fail(b, "%s: not every one of %d records was consumed: %v", t.name, total, err)
	}
	return lat, took
}
