package benchmarks

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnRecords is how many records one transaction of BenchmarkTransactions
// carries.
const txnRecords = 100

// BenchmarkTransactions: one iteration produces scaled(100k) records of
// 100 B to a fresh 6-partition topic, acks=all, either in transactions of
// txnRecords records committed one after another (mode=txn100) or with the
// idempotent producer and no transactions (mode=idempotent), the figure
// transactions are held to (60% or more of it). mode=ratio does both, one
// after the other in every iteration, and reports txn/idempotent (the
// transactions' throughput over the idempotent one's), which a machine
// whose load drifts between the other modes' runs leaves less skewed; its
// cells are named by how many producers run at once (producers=1, 4, 16),
// so one pattern of five levels picks them all.
//
// A transaction of 100 records is bound by latency, not by the broker's
// CPU: the client waits for its produce, then for its EndTxn, before it
// starts the next. Under KIP-890 part 2 (transaction.version 2, which a new
// gregor cluster finalizes) franz-go sends no AddPartitionsToTxn: the broker
// adds each Produce's partitions to the transaction in one ask of the
// coordinator (one append of __transaction_state), before their appends.
// A transaction then costs on the broker about 2 appends of
// __transaction_state (its partitions added, PrepareCommit; its
// CompleteCommit waits up to 20 ms to go in one append with the next
// transaction's add), one data append and one marker per partition; the
// markers of transactions that end together and the produces that reach a
// partition meanwhile (the cells with several producers) share their
// partition's append.
//
// The client=kmsg-raw cells run the same records through a load generator
// written on kmsg over raw TCP (rawtxn_test.go) instead of franz-go, whose
// own CPU per transactional record bounds the ratio on a 2-core machine:
// they show what the broker can do, beside kfake.
func BenchmarkTransactions(b *testing.B) {
	set := recordSet{name: "100B", n: scaled(100_000), size: 100}
	for _, mode := range []string{"txn100", "idempotent"} {
		name := fmt.Sprintf("rec=%s/parts=6/mode=%s", set.name, mode)
		b.Run(name+"/gregor", func(b *testing.B) { benchTxn(b, gregorBroker(b), set, mode, 1) })
		b.Run(name+"/ref-kfake", func(b *testing.B) { benchTxn(b, kfakeBroker(b), set, mode, 1) })
		b.Run(name+"/ref-kfake-process", func(b *testing.B) { benchTxn(b, kfakeProcessBroker(b), set, mode, 1) })
	}
	// One producer, or several at once, each its own client and
	// transactional id, the same records in all: with several, the
	// transactions of one no longer wait on another's round trips, so the
	// cell measures what the broker can do rather than one client's chain
	// of them. Beside as many idempotent producers at once, which split the
	// records the same way.
	for _, producers := range txnProducerCounts {
		name := fmt.Sprintf("rec=%s/parts=6/producers=%d/mode=ratio", set.name, producers)
		b.Run(name+"/gregor", func(b *testing.B) { benchTxn(b, gregorBroker(b), set, "ratio", producers) })
		b.Run(name+"/ref-kfake", func(b *testing.B) { benchTxn(b, kfakeBroker(b), set, "ratio", producers) })
		b.Run(name+"/ref-kfake-process", func(b *testing.B) { benchTxn(b, kfakeProcessBroker(b), set, "ratio", producers) })
	}
	// The same cells with the raw load generator (rawtxn_test.go) in
	// place of franz-go, whose own CPU per transactional record bounds
	// the ratio above on a 2-core machine: each mode alone, to profile
	// the broker in, and the ratio, at 1, 4 and 16 producers.
	for _, producers := range txnProducerCounts {
		for _, mode := range []string{"txn100", "idempotent"} {
			name := fmt.Sprintf("rec=%s/parts=6/%s/producers=%d/mode=%s", set.name, rawClientLabel, producers, mode)
			b.Run(name+"/gregor", func(b *testing.B) { benchRaw(b, gregorBroker(b), set, mode, producers) })
			b.Run(name+"/ref-kfake-process", func(b *testing.B) { benchRaw(b, kfakeProcessBroker(b), set, mode, producers) })
		}
		name := fmt.Sprintf("rec=%s/parts=6/%s/producers=%d/mode=ratio", set.name, rawClientLabel, producers)
		b.Run(name+"/gregor", func(b *testing.B) { benchRawRatio(b, gregorBroker(b), set, producers) })
		b.Run(name+"/ref-kfake", func(b *testing.B) { benchRawRatio(b, kfakeBroker(b), set, producers) })
		b.Run(name+"/ref-kfake-process", func(b *testing.B) { benchRawRatio(b, kfakeProcessBroker(b), set, producers) })
	}
	// The transactions of the cells with 4 and 16 producers alone, no
	// idempotent run between: a profile of the broker in these cells
	// shows what a transaction costs it, and nothing else (a ratio cell's
	// profile mixes in the idempotent run).
	for _, producers := range txnProfiledProducers {
		name := fmt.Sprintf("rec=%s/parts=6/producers=%d/mode=txn100", set.name, producers)
		b.Run(name+"/gregor", func(b *testing.B) { benchTxn(b, gregorBroker(b), set, "txn100", producers) })
		b.Run(name+"/ref-kfake-process", func(b *testing.B) { benchTxn(b, kfakeProcessBroker(b), set, "txn100", producers) })
	}
}

// txnProfiledProducers are how many producers run at once in the
// transactions-only cells of BenchmarkTransactions.
var txnProfiledProducers = []int{4, 16}

// txnProducerCounts are the ratio cells of BenchmarkTransactions: one
// producer, and several at once.
var txnProducerCounts = []int{1, 4, 16}

func benchTxn(b *testing.B, t *target, set recordSet, mode string, producers int) {
	if mode == "ratio" {
		benchTxnRatio(b, t, set, producers)
		return
	}
	b.StopTimer()
	b.ResetTimer()
	b.SetBytes(set.payload())
	var total window
	for i := 0; i < b.N; i++ {
		topic := t.createTopic(b, "txn", 6)
		total.add(produceTransactions(b, t, topic, set, mode, producers, nil, nil, nil))
		t.deleteTopic(b, topic)
	}
	report(b, t, set, total)
}

// benchTxnRatio runs the idempotent producers and then the transactional
// ones on the same broker in every iteration and reports the ratio of
// their throughputs (the same records each, so the inverse ratio of their
// times), each mode's records/s, and the broker's CPU per record in each
// mode.
func benchTxnRatio(b *testing.B, t *target, set recordSet, producers int) {
	benchTxnRatioOn(b, t, set, producers, func() string { return t.createTopic(b, "txn", 6) }, func(topic string) { t.deleteTopic(b, topic) })
}

// benchTxnRatioOn is benchTxnRatio with the topics of each run made by
// newTopic and dropped by dropTopic.
func benchTxnRatioOn(b *testing.B, t *target, set recordSet, producers int, newTopic func() string, dropTopic func(string)) {
	b.StopTimer()
	b.ResetTimer()
	b.SetBytes(2 * set.payload())
	var idempotent, txn window
	var idemClient, txnClient time.Duration
	var idemSwitches, txnSwitches int64
	requests := newRequestStats(kmsg.Produce, kmsg.EndTxn, kmsg.AddPartitionsToTxn)
	for i := 0; i < b.N; i++ {
		for _, m := range []struct {
			mode     string
			w        *window
			client   *time.Duration
			switches *int64
			requests *requestStats
		}{{"idempotent", &idempotent, &idemClient, &idemSwitches, nil}, {"txn100", &txn, &txnClient, &txnSwitches, requests}} {
			topic := newTopic()
			m.w.add(produceTransactions(b, t, topic, set, m.mode, producers, m.client, m.switches, m.requests))
			dropTopic(topic)
		}
	}
	reportTxnRatio(b, t, float64(set.n)*float64(b.N), idempotent, txn, idemClient, txnClient, idemSwitches, txnSwitches)
	records := float64(set.n) * float64(b.N)
	// The transactional clients' requests: per transaction and their mean
	// times, where a transaction's wall time goes.
	requests.report(b, records/txnRecords, "txn")
}

// reportTxnRatio reports a ratio cell's figures over its records (per
// mode): txn/idempotent (the transactions' throughput over the idempotent
// one's), each mode's records/s, and for a broker in a process of its own
// each mode's broker CPU per record and context switches, and each mode's
// client CPU per record.
func reportTxnRatio(b *testing.B, t *target, records float64, idempotent, txn window, idemClient, txnClient time.Duration,
	idemSwitches, txnSwitches int64) {
	b.ReportMetric(idempotent.elapsed.Seconds()/txn.elapsed.Seconds(), "txn/idempotent")
	b.ReportMetric(records/txn.elapsed.Seconds(), "txn-rec/s")
	b.ReportMetric(records/idempotent.elapsed.Seconds(), "idem-rec/s")
	if len(t.processes()) != 0 {
		b.ReportMetric(float64(txn.cpu.Nanoseconds())/records, "txn-ns-cpu/rec")
		b.ReportMetric(float64(idempotent.cpu.Nanoseconds())/records, "idem-ns-cpu/rec")
		// The brokers' context switches per transaction (per 100
		// records for the idempotent run): on a virtual machine each
		// thread sleep and wake-up costs more than most of the work
		// around it, and replication multiplies them.
		b.ReportMetric(float64(txnSwitches)/(records/txnRecords), "txn-switches/txn")
		b.ReportMetric(float64(idemSwitches)/(records/txnRecords), "idem-switches/100rec")
	}
	// The client's CPU per record (this process: the producers and the
	// harness; for the in-process reference, its broker too). With the
	// broker's, what a record costs the machine, whose two cores bound
	// each mode's throughput (txnCellBound).
	b.ReportMetric(float64(txnClient.Nanoseconds())/records, "txn-client-ns/rec")
	b.ReportMetric(float64(idemClient.Nanoseconds())/records, "idem-client-ns/rec")
}

// produceTransactions writes set to topic with producers fresh clients
// at once, each a share of its records: in transactions of txnRecords
// records (mode txn100), each client with a transactional id of its own,
// or idempotently. It adds to client, unless nil, this process's CPU time
// in the window (the clients' start and warm-up left out), to switches,
// unless nil, the broker processes' context switches in the window, and
// to requests, unless nil, the clients' requests in the window.
func produceTransactions(b *testing.B, t *target, topic string, set recordSet, mode string, producers int, client *time.Duration,
	switches *int64, requests *requestStats) window {
	b.Helper()
	txn := mode == "txn100"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clients := make([]*kgo.Client, producers)
	for i := range clients {
		clients[i] = newTxnBenchClient(b, ctx, t, topic, txn, fmt.Sprint("bench-", time.Now().UnixNano(), "-", i), requests)
		defer clients[i].Close()
	}
	value := make([]byte, set.size)
	var (
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			fail(err)
		}
	}
	// run writes records [from, to) with cl.
	run := func(cl *kgo.Client, from, to int) {
		step := to - from
		if txn {
			step = txnRecords
		}
		for at := from; at < to && ctx.Err() == nil; at += step {
			if txn {
				if err := cl.BeginTransaction(); err != nil {
					fail(fmt.Errorf("begin: %w", err))
					return
				}
			}
			for i := at; i < min(at+step, to); i++ {
				cl.Produce(ctx, &kgo.Record{Value: value}, promise)
			}
			if err := cl.Flush(ctx); err != nil {
				fail(fmt.Errorf("flush: %w", err))
				return
			}
			if txn {
				if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					fail(fmt.Errorf("commit: %w", err))
					return
				}
			}
		}
	}
	w := measure(b, t, true, func() {
		if client != nil {
			before := processCPU()
			defer func() { *client += processCPU() - before }()
		}
		if switches != nil {
			before := contextSwitches(t.processes())
			defer func() { *switches += contextSwitches(t.processes()) - before }()
		}
		if requests != nil {
			requests.counting.Store(true)
			defer requests.counting.Store(false)
		}
		var wg sync.WaitGroup
		for i, cl := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(cl, i*set.n/producers, (i+1)*set.n/producers)
			}()
		}
		wg.Wait()
	})
	if firstErr != nil {
		t.fail(b, "%s: %s: %v", t.name, mode, firstErr)
	}
	return w
}

// newTxnBenchClient is a producer of topic, transactional with txnID when
// txn: its coordinator found (and on the first run, __transaction_state
// made and loaded) and its producer id got, by one aborted transaction of
// one record, all before the window; an idempotent one produces one record
// before the window. requests, unless nil, counts its requests.
func newTxnBenchClient(b *testing.B, ctx context.Context, t *target, topic string, txn bool, txnID string, requests *requestStats) *kgo.Client {
	b.Helper()
	opts := []kgo.Opt{
		kgo.SeedBrokers(t.addr), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(1 << 20), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(1 << 20), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.DefaultProduceTopic(topic),
	}
	if txn {
		opts = append(opts, kgo.TransactionalID(txnID), kgo.TransactionTimeout(time.Minute))
	}
	if requests != nil {
		opts = append(opts, kgo.WithHooks(requests))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		b.Fatal(err)
	}
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		t.fail(b, "%s: ping: %v", t.name, err)
	}
	fail := func(what string, err error) {
		cl.Close()
		t.fail(b, "%s: %s: %v", t.name, what, err)
	}
	if !txn {
		// The same warm-up for the idempotent producer: its connections
		// dialled, the topic's metadata and its producer id got, before
		// the window. Without it the window of 16 producers at once is
		// mostly 16 clients starting.
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 1)}).FirstErr(); err != nil {
			fail("warm-up record", err)
		}
		return cl
	}
	if err := cl.BeginTransaction(); err != nil {
		fail("begin", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 1)}).FirstErr(); err != nil {
		fail("warm-up record", err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		fail("warm-up abort", err)
	}
	return cl
}
