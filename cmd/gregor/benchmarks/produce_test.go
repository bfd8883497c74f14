package benchmarks

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordSet is the data one produce iteration writes.
type recordSet struct {
	name string
	n    int // records
	size int // value bytes per record
}

func (s recordSet) payload() int64 { return int64(s.n) * int64(s.size) }

// shortScale is the scale under -short when GREGOR_BENCH_SCALE is unset:
// a round takes seconds, not minutes, and still has enough records for CPU
// and allocations per record to mean something.
const shortScale = 0.1

// scale is GREGOR_BENCH_SCALE: every record count is multiplied by it.
func scale() float64 {
	v := os.Getenv("GREGOR_BENCH_SCALE")
	if v == "" {
		if testing.Short() {
			return shortScale
		}
		return 1
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		return 1
	}
	return f
}

func scaled(n int) int { return max(1, int(math.Round(float64(n)*scale()))) }

func recordSets() []recordSet {
	return []recordSet{
		{name: "100B", n: scaled(1_000_000), size: 100},
		{name: "1KiB", n: scaled(100_000), size: 1024},
	}
}

var partitionCounts = []int{1, 6}

// acksChoices are the produce cells: acks=1 (leader) and acks=all.
var acksChoices = []struct {
	name string
	acks kgo.Acks
}{
	{"1", kgo.LeaderAck()},
	{"all", kgo.AllISRAcks()},
}

// producerOpts are the franz-go settings every target gets.
func producerOpts(addr string, acks kgo.Acks) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.DisableIdempotentWrite(),
		kgo.MaxProduceRequestsInflightPerBroker(5),
		kgo.RequiredAcks(acks),
		kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(1 << 20),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
	}
}

// window is what one measured stretch of work cost: wall time, and the
// broker's CPU time and heap allocations when they can be read.
type window struct {
	elapsed, cpu time.Duration
	// client is the benchmark process's own CPU time over the same
	// stretch (the producer alone: none of the harness's set-up, pings,
	// quiescence polls or topic changes).
	client time.Duration
	// faults and clientFaults are the minor page faults the brokers and
	// the benchmark process took over the stretch.
	faults, clientFaults int64
	// clientPreempted is the benchmark process's involuntary context
	// switches over the stretch: its threads taken off a core that
	// another process wanted.
	clientPreempted int64
	allocs          heapAllocs
	hasAllocs       bool
}

func (w *window) add(o window) {
	w.elapsed += o.elapsed
	w.cpu += o.cpu
	w.client += o.client
	w.faults += o.faults
	w.clientFaults += o.clientFaults
	w.clientPreempted += o.clientPreempted
	w.allocs.objects += o.allocs.objects
	w.allocs.bytes += o.allocs.bytes
	w.hasAllocs = o.hasAllocs
}

// measure runs work with the timer (when timed) and the CPU window around it
// alone; the allocation counters are read outside both, since scraping
// them costs the broker CPU.
func measure(b *testing.B, t *target, timed bool, work func()) window {
	b.Helper()
	t.quiesce(b)
	probe := t.beginAllocs(b)
	stopPerf := startPerf(b, t)
	if timed {
		b.StartTimer()
	}
	self := []int{os.Getpid()}
	faults0, clientFaults0, preempted0 := faults(t.processes()), faults(self), processPreemptions()
	cpu0, client0, start := t.cpu(b), processCPU(), time.Now()
	work()
	w := window{elapsed: time.Since(start), client: processCPU() - client0}
	w.cpu = t.cpu(b) - cpu0
	w.faults, w.clientFaults = faults(t.processes())-faults0, faults(self)-clientFaults0
	w.clientPreempted = processPreemptions() - preempted0
	if timed {
		b.StopTimer()
	}
	stopPerf()
	w.allocs, w.hasAllocs = probe.end(b)
	return w
}

// Quiescence: a broker is idle when it ran less than quietCPU in a
// quietInterval; quiesce waits up to quiesceMax for that.
const (
	quietInterval = 20 * time.Millisecond
	quietCPU      = 2 * time.Millisecond
	quiesceMax    = 5 * time.Second
)

// quiesce waits until the broker process is idle, so that work left from
// what came before the window (the previous iteration's topic deletion:
// closing its logs, removing its files) is not counted in it. In-process
// brokers are not measured and not waited for.
func (t *target) quiesce(b *testing.B) {
	b.Helper()
	if len(t.processes()) == 0 {
		return
	}
	deadline := time.Now().Add(quiesceMax)
	last := t.cpu(b)
	for time.Now().Before(deadline) {
		time.Sleep(quietInterval)
		now := t.cpu(b)
		if now-last < quietCPU {
			return
		}
		last = now
	}
}

// produceAll writes set to topic with a fresh client and waits for every
// acknowledgement. The timer, when timed, runs only while records are
// produced; so does the window it returns.
func produceAll(b *testing.B, t *target, topic string, set recordSet, acks kgo.Acks, timed bool) window {
	b.Helper()
	return produceAllCounted(b, t, topic, set, acks, timed, nil)
}

// produceAllCounted is produceAll with the producer's layout counted in
// stats, kgo hooks such as *produceStats (nil: not counted).
func produceAllCounted(b *testing.B, t *target, topic string, set recordSet, acks kgo.Acks, timed bool, stats kgo.Hook) window {
	b.Helper()
	return produceInto(b, t, []string{topic}, set, acks, timed, stats)
}

// produceInto is produceAllCounted writing every record of set into each of
// topics, from one client.
func produceInto(b *testing.B, t *target, topics []string, set recordSet, acks kgo.Acks, timed bool, stats kgo.Hook) window {
	b.Helper()
	opts := producerOpts(t.addr, acks)
	if stats != nil {
		opts = append(opts, kgo.WithHooks(stats))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.fail(b, "%s: ping: %v", t.name, err)
	}
	value := make([]byte, set.size)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		failed   int
	)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			failed++
			mu.Unlock()
		}
		wg.Done()
	}
	w := measure(b, t, timed, func() {
		wg.Add(set.n * len(topics))
		for i := 0; i < set.n; i++ {
			for _, topic := range topics {
				cl.Produce(ctx, &kgo.Record{Topic: topic, Value: value}, promise)
			}
		}
		if !waitTimeout(&wg, 2*time.Minute) {
			b.StopTimer()
			mu.Lock()
			err := firstErr
			mu.Unlock()
			t.fail(b, "%s: records of %s still unacknowledged after 2 minutes (first error %v)", t.name, strings.Join(topics, ","), err)
		}
	})
	if firstErr != nil {
		t.fail(b, "%s: %d of %d records failed, first: %v", t.name, failed, set.n*len(topics), firstErr)
	}
	return w
}

// BenchmarkProduce: one iteration produces a whole record set (1M × 100 B or
// 100k × 1 KiB) into a fresh topic and waits for every acknowledgement.
func BenchmarkProduce(b *testing.B) {
	for _, set := range recordSets() {
		for _, parts := range partitionCounts {
			for _, a := range acksChoices {
				name := fmt.Sprintf("rec=%s/parts=%d/acks=%s", set.name, parts, a.name)
				b.Run(name+"/gregor", func(b *testing.B) {
					benchProduce(b, gregorBroker(b), set, parts, a.acks)
				})
				b.Run(name+"/ref-kfake", func(b *testing.B) {
					benchProduce(b, kfakeBroker(b), set, parts, a.acks)
				})
				b.Run(name+"/ref-kfake-process", func(b *testing.B) {
					benchProduce(b, kfakeProcessBroker(b), set, parts, a.acks)
				})
				b.Run(name+"/ref-tcp", func(b *testing.B) { benchTCP(b, set) })
			}
		}
	}
}

func benchProduce(b *testing.B, t *target, set recordSet, parts int, acks kgo.Acks) {
	b.StopTimer()
	b.ResetTimer() // starting the broker is not part of it
	b.SetBytes(set.payload())
	var total window
	stats := &produceStats{}
	for i := 0; i < b.N; i++ {
		topic := t.createTopic(b, "produce", parts)
		total.add(produceAllCounted(b, t, topic, set, acks, true, stats))
		t.deleteTopic(b, topic)
	}
	report(b, t, set, total)
	stats.report(b)
}

// report adds records/s and, for a broker in its own process, its CPU per
// record and its heap allocations per record.
func report(b *testing.B, t *target, set recordSet, w window) {
	records := float64(set.n) * float64(b.N)
	b.ReportMetric(records/b.Elapsed().Seconds(), "records/s")
	if t != nil && len(t.processes()) != 0 {
		b.ReportMetric(float64(w.cpu.Nanoseconds())/records, "ns-cpu/rec")
		// CPU share of one core while the broker worked (2 cores = 200%).
		b.ReportMetric(100*w.cpu.Seconds()/w.elapsed.Seconds(), "broker-cpu-%")
	}
	if w.hasAllocs {
		b.ReportMetric(w.allocs.objects/records, "allocs/rec")
		b.ReportMetric(w.allocs.bytes/records, "alloc-B/rec")
	}
}

// benchTCP is the physical limit: the record set's bytes (payload plus
// tcpOverhead per record) through raw loopback TCP.
func benchTCP(b *testing.B, set recordSet) {
	addr := tcpSink(b)
	chunk := make([]byte, tcpChunk)
	total := int64(set.n) * int64(set.size+tcpOverhead)
	b.SetBytes(set.payload())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sendTCP(b, addr, total, chunk)
	}
	b.StopTimer()
	report(b, nil, set, window{})
}

// waitTimeout waits for wg at most d and tells whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
