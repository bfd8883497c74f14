package benchmarks

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
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
// whose load drifts between the other modes' runs leaves less skewed.
//
// A transaction of 100 records is bound by latency, not by the broker's
// CPU: the client waits for its produce, then for its EndTxn, before it
// starts the next. Under KIP-890 part 2 (transaction.version 2, which a new
// gregor cluster finalizes) franz-go sends no AddPartitionsToTxn: the broker
// adds each Produce's partitions to the transaction in one ask of the
// coordinator (one append of __transaction_state), before their appends.
// A transaction then costs on the broker about 2–3 appends of
// __transaction_state (its partitions added, PrepareCommit, CompleteCommit
// when no add of the next transaction joins it), one data append and one
// marker per partition.
func BenchmarkTransactions(b *testing.B) {
	set := recordSet{name: "100B", n: scaled(100_000), size: 100}
	for _, mode := range []string{"txn100", "idempotent", "ratio"} {
		name := fmt.Sprintf("rec=%s/parts=6/mode=%s", set.name, mode)
		b.Run(name+"/gregor", func(b *testing.B) { benchTxn(b, gregorBroker(b), set, mode) })
		b.Run(name+"/ref-kfake", func(b *testing.B) { benchTxn(b, kfakeBroker(b), set, mode) })
		b.Run(name+"/ref-kfake-process", func(b *testing.B) { benchTxn(b, kfakeProcessBroker(b), set, mode) })
	}
}

func benchTxn(b *testing.B, t *target, set recordSet, mode string) {
	if mode == "ratio" {
		benchTxnRatio(b, t, set)
		return
	}
	b.StopTimer()
	b.ResetTimer()
	b.SetBytes(set.payload())
	var total window
	for i := 0; i < b.N; i++ {
		topic := t.createTopic(b, "txn", 6)
		total.add(produceTransactions(b, t, topic, set, mode, fmt.Sprint("bench-", time.Now().UnixNano())))
		t.deleteTopic(b, topic)
	}
	report(b, t, set, total)
}

// benchTxnRatio runs the idempotent producer and then transactions on the
// same broker in every iteration and reports the ratio of their
// throughputs (the same records each, so the inverse ratio of their
// times), with the broker's CPU per record in each mode.
func benchTxnRatio(b *testing.B, t *target, set recordSet) {
	b.StopTimer()
	b.ResetTimer()
	b.SetBytes(2 * set.payload())
	var idempotent, txn window
	for i := 0; i < b.N; i++ {
		for _, m := range []struct {
			mode string
			w    *window
		}{{"idempotent", &idempotent}, {"txn100", &txn}} {
			topic := t.createTopic(b, "txn", 6)
			m.w.add(produceTransactions(b, t, topic, set, m.mode, fmt.Sprint("bench-", time.Now().UnixNano())))
			t.deleteTopic(b, topic)
		}
	}
	b.ReportMetric(idempotent.elapsed.Seconds()/txn.elapsed.Seconds(), "txn/idempotent")
	if t.pid != 0 {
		records := float64(set.n) * float64(b.N)
		b.ReportMetric(float64(txn.cpu.Nanoseconds())/records, "txn-ns-cpu/rec")
		b.ReportMetric(float64(idempotent.cpu.Nanoseconds())/records, "idem-ns-cpu/rec")
	}
}

// produceTransactions writes set to topic with a fresh client: in
// transactions of txnRecords records (mode txn100), or idempotently.
func produceTransactions(b *testing.B, t *target, topic string, set recordSet, mode, txnID string) window {
	b.Helper()
	opts := []kgo.Opt{
		kgo.SeedBrokers(t.addr), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0),
		kgo.ProducerBatchMaxBytes(1 << 20), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(1 << 20), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.DefaultProduceTopic(topic),
	}
	txn := mode == "txn100"
	if txn {
		opts = append(opts, kgo.TransactionalID(txnID), kgo.TransactionTimeout(time.Minute))
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
	if txn {
		// Outside the window: the transaction coordinator found (and on
		// the first run, __transaction_state made and loaded) and the
		// producer id got, by one aborted transaction of one record.
		if err := cl.BeginTransaction(); err != nil {
			t.fail(b, "%s: begin: %v", t.name, err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			t.fail(b, "%s: warm-up record: %v", t.name, err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
			t.fail(b, "%s: warm-up abort: %v", t.name, err)
		}
	}
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
	w := measure(b, t, true, func() {
		step := set.n
		if txn {
			step = txnRecords
		}
		for from := 0; from < set.n && ctx.Err() == nil; from += step {
			if txn {
				if err := cl.BeginTransaction(); err != nil {
					t.fail(b, "%s: begin: %v", t.name, err)
				}
			}
			for i := from; i < min(from+step, set.n); i++ {
				cl.Produce(ctx, &kgo.Record{Value: value}, promise)
			}
			if err := cl.Flush(ctx); err != nil {
				t.fail(b, "%s: flush: %v", t.name, err)
			}
			if txn {
				if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					t.fail(b, "%s: commit: %v", t.name, err)
				}
			}
		}
	})
	if firstErr != nil {
		t.fail(b, "%s: a record failed: %v", t.name, firstErr)
	}
	return w
}
