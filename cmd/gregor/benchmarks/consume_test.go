package benchmarks

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeTopics holds, per target and cell, the topic produced once for the
// consume benchmark, so the b.N and -count rounds read the same data.
var consumeTopics sync.Map // "target/cell" → topic name

// BenchmarkConsume: the record set is produced once (acks=1) and read once,
// outside the timer; one iteration is a new client reading all of it from
// the start.
func BenchmarkConsume(b *testing.B) {
	for _, set := range recordSets() {
		for _, parts := range partitionCounts {
			name := fmt.Sprintf("rec=%s/parts=%d", set.name, parts)
			b.Run(name+"/gregor", func(b *testing.B) {
				benchConsume(b, gregorBroker(b), name, set, parts)
			})
			b.Run(name+"/ref-kfake", func(b *testing.B) {
				benchConsume(b, kfakeBroker(b), name, set, parts)
			})
			b.Run(name+"/ref-kfake-process", func(b *testing.B) {
				benchConsume(b, kfakeProcessBroker(b), name, set, parts)
			})
			b.Run(name+"/ref-tcp", func(b *testing.B) { benchTCP(b, set) })
		}
	}
}

func benchConsume(b *testing.B, t *target, cell string, set recordSet, parts int) {
	b.StopTimer()
	b.ResetTimer() // starting the broker is not part of it
	key := t.name + "/" + cell
	topic, ok := consumeTopics.Load(key)
	if !ok {
		name := t.createTopic(b, "consume", parts)
		_ = produceAll(b, t, name, set, kgo.LeaderAck(), false)
		// One read outside the window: a broker's first read of a record
		// set warms what later reads reuse (kfake's heap and the client's
		// fault their pages in, gregor's pools fill); go test reports a
		// cell's first iteration alone when it takes a second or more, so
		// without this the cell measured a cold start at random.
		_ = consumeAll(b, t, name, set, &fetchStats{}, false)
		consumeTopics.Store(key, name)
		topic = name
	}
	b.SetBytes(set.payload())
	var total window
	stats := &fetchStats{}
	for i := 0; i < b.N; i++ {
		total.add(consumeAll(b, t, topic.(string), set, stats, true))
	}
	report(b, t, set, total)
	stats.report(b)
}

// consumeAll reads every record of topic from the start with a fresh client;
// the window (and the timer, when timed) runs from the first poll to the
// last record.
func consumeAll(b *testing.B, t *target, topic string, set recordSet, stats *fetchStats, timed bool) window {
	b.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(t.addr),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithHooks(stats),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var records, bytes int64
	w := measure(b, t, timed, func() {
		for records < int64(set.n) {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				b.StopTimer()
				t.fail(b, "%s: consumed %d of %d records of %s: %v", t.name, records, set.n, topic, ctx.Err())
			}
			var ferr error
			fs.EachError(func(_ string, _ int32, err error) {
				if ferr == nil {
					ferr = err
				}
			})
			if ferr != nil {
				b.StopTimer()
				t.fail(b, "%s: fetch %s: %v", t.name, topic, ferr)
			}
			fs.EachRecord(func(r *kgo.Record) {
				records++
				bytes += int64(len(r.Value))
			})
		}
	})
	if records != int64(set.n) || bytes != set.payload() {
		t.fail(b, "%s: consumed %d records, %d bytes; want %d, %d", t.name, records, bytes, set.n, set.payload())
	}
	return w
}
