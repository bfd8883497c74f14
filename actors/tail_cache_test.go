package actors

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTailingConsumersReadPooledBlocks produces while consumers tail the
// partition (so the log keeps its tail in memory and feeds the cache) over a
// cache of a few blocks, so tail and cache blocks are evicted and reused all
// along, with the node's pools poisoning what is released: every record
// comes back as produced, to the tailing consumers and to one reading from
// the start afterwards (cache hits, misses and the file).
func TestTailingConsumersReadPooledBlocks(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.CacheBytes = 256 << 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, nil, "tailed"); err != nil {
		t.Fatal(err)
	}
	const records, valueBytes = 4000, 1000
	value := func(i int) []byte {
		v := bytes.Repeat([]byte{byte(i)}, valueBytes)
		binary.BigEndian.PutUint32(v, uint32(i))
		return v
	}
	// consumed counts what each tailing consumer read so far.
	var consumed [2]atomic.Int64
	consume := func(t *testing.T, progress *atomic.Int64, opts ...kgo.Opt) {
		cl := newClient(t, n, append([]kgo.Opt{kgo.ConsumeTopics("tailed"), kgo.FetchMaxWait(50 * time.Millisecond)}, opts...)...)
		for next := 0; next < records; {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Errorf("consumed %d of %d records: %v", next, records, ctx.Err())
				return
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Errorf("fetch: %v", err) })
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset != int64(next) || !bytes.Equal(r.Value, value(next)) {
					t.Errorf("offset %d (want %d): value differs from the one produced", r.Offset, next)
				}
				next++
			})
			if progress != nil {
				progress.Store(int64(next))
			}
			if t.Failed() {
				return
			}
		}
	}
	var wg sync.WaitGroup
	for i := range consumed {
		wg.Go(func() { consume(t, &consumed[i], kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())) })
	}
	producer := newClient(t, n, kgo.DefaultProduceTopic("tailed"), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := range records {
		producer.Produce(ctx, &kgo.Record{Value: value(i)}, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
		if i%100 == 99 {
			// Rounds: the consumers catch up after each, so they tail.
			if err := producer.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "consumers caught up", func() bool {
				return consumed[0].Load() > int64(i) && consumed[1].Load() > int64(i) || t.Failed()
			})
		}
	}
	if err := producer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	consume(t, nil, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	st := n.blocks.Stats()
	t.Logf("block pool: %+v", st)
	if st.Reuses == 0 {
		t.Errorf("no block was reused (%+v): the test proves nothing", st)
	}
}
