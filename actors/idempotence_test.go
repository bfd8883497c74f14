package actors

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
)

// idempotentClient is a franz-go client with its default idempotent
// producer, through addr.
func idempotentClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// consumeValues reads n records of topic from the start, by partition.
func consumeValues(ctx context.Context, t *testing.T, n *Node, topic string, want int) map[int32][]string {
	t.Helper()
	cl := newClient(t, n, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got, total := map[int32][]string{}, 0
	for total < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", total, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.ProducerID < 0 {
				t.Errorf("record at %d has no producer id", r.Offset)
			}
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			total++
		})
	}
	// Anything past what was produced is a duplicate.
	ctxShort, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	cl.PollFetches(ctxShort).EachRecord(func(r *kgo.Record) {
		t.Errorf("extra record %q at %d-%d", r.Value, r.Partition, r.Offset)
	})
	return got
}

// checkExactlyOnceInOrder checks that each partition holds its records once,
// in the order they were produced (values "p-i" for partition p).
func checkExactlyOnceInOrder(t *testing.T, got map[int32][]string, perPartition int) {
	t.Helper()
	for p, vals := range got {
		if len(vals) != perPartition {
			t.Errorf("partition %d holds %d records, want %d", p, len(vals), perPartition)
		}
		for i, v := range vals {
			if want := fmt.Sprintf("%d-%d", p, i); v != want {
				t.Fatalf("partition %d record %d = %q, want %q", p, i, v, want)
			}
		}
	}
}

// produceNumbered produces perPartition records to each partition, in
// order, values "p-i", in rounds of `round` records per partition (so in
// many Produce requests), waiting for every acknowledgement.
func produceNumbered(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, partitions int32, perPartition, round int) {
	t.Helper()
	for from := 0; from < perPartition; from += round {
		produceRange(ctx, t, cl, topic, partitions, from, min(from+round, perPartition))
	}
}

func produceRange(ctx context.Context, t *testing.T, cl *kgo.Client, topic string, partitions int32, from, to int) {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := from; i < to; i++ {
		for p := int32(0); p < partitions; p++ {
			wg.Add(1)
			r := &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("%d-%d", p, i))}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					failed.Store(err)
				}
				wg.Done()
			})
		}
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
}

// franz-go's default producer is idempotent now that InitProducerId is
// served: its batches carry a producer id and sequences, and every record
// lands once, in order, also across a restart of the node (the producer
// state comes back from the log).
func TestIdempotentProducerFranzGo(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t, 60*time.Second)
	n := startTestNode(t, dir, nil)
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 3, 1, nil, "idem"); err != nil {
		t.Fatal(err)
	}
	cl := idempotentClient(t, n.Addr().String(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	produceNumbered(ctx, t, cl, "idem", 3, 300, 300)
	checkExactlyOnceInOrder(t, consumeValues(ctx, t, n, "idem", 900), 300)
}

// A TCP proxy between an idempotent producer and the node drops the answers
// of some Produce requests and cuts the connection (the producer retries
// batches the node already appended), and replays copies of earlier Produce
// requests to the node out of order on a connection of its own: every
// record lands once, in order.
func TestIdempotentProducerDuplicatedAndReorderedRetries(t *testing.T) {
	ctx := testContext(t, 90*time.Second)
	n := startTestNode(t, t.TempDir(), nil)
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 2, 1, nil, "retried"); err != nil {
		t.Fatal(err)
	}
	px := startDuplicatingProxy(t, n.Addr().String())
	// Every connection goes through the proxy, the broker's advertised
	// address included.
	var d net.Dialer
	through := kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, px.addr())
	})
	cl := idempotentClient(t, px.addr(), through, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0),
		kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	produceNumbered(ctx, t, cl, "retried", 2, 400, 2)
	if px.cut.Load() == 0 || px.replayed.Load() == 0 {
		t.Fatalf("the proxy cut %d connections and replayed %d requests", px.cut.Load(), px.replayed.Load())
	}
	checkExactlyOnceInOrder(t, consumeValues(ctx, t, n, "retried", 800), 400)
}

// idempotentRecordBatch is a batch of n records of producer pid at epoch,
// starting at sequence seq.
func idempotentRecordBatch(pid int64, epoch int16, seq int32, n int) []byte {
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{Magic: 2, NumRecords: int32(n), LastOffsetDelta: int32(n - 1), FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, ProducerEpoch: epoch, FirstSequence: seq}
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(fmt.Sprintf("seq-%d", int(seq)+i))}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		b.Records = r.AppendTo(b.Records)
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	logstore.ChecksumBatch(raw)
	return raw
}

// produceRaw sends one batch to topic-0 with acks=all and returns the
// partition's answer.
func produceRaw(ctx context.Context, t *testing.T, n *Node, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	// By name: Produce v13 names topics by id.
	resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.Produce), 12))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

// The producer state comes back after a restart: a retry of a batch
// appended before it is answered with its original offset, a gap is still
// a gap, an old epoch still fenced.
func TestIdempotenceSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t, 60*time.Second)
	n := startTestNode(t, dir, nil)
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, nil, "kept-state"); err != nil {
		t.Fatal(err)
	}
	pid := initProducerID(ctx, t, n, nil).ProducerID
	expect := func(n *Node, epoch int16, seq int32, count int, code int16, base int64) {
		t.Helper()
		got := produceRaw(ctx, t, n, "kept-state", idempotentRecordBatch(pid, epoch, seq, count))
		if got.ErrorCode != code || code == 0 && got.BaseOffset != base {
			t.Fatalf("epoch %d seq %d: error %d base offset %d, want error %d base offset %d", epoch, seq, got.ErrorCode, got.BaseOffset, code, base)
		}
	}
	expect(n, 0, 0, 3, 0, 0)
	expect(n, 0, 3, 3, 0, 3)
	expect(n, 0, 0, 3, 0, 0) // a retry
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	n2 := startTestNode(t, dir, nil)
	expect(n2, 0, 0, 3, 0, 0)
	expect(n2, 0, 3, 3, 0, 3)
	expect(n2, 0, 9, 1, kerr.OutOfOrderSequenceNumber.Code, -1)
	expect(n2, 0, 6, 2, 0, 6)
	expect(n2, 1, 0, 1, 0, 8)
	expect(n2, 0, 8, 1, kerr.InvalidProducerEpoch.Code, -1)
	ends, err := kadm.NewClient(newClient(t, n2)).ListEndOffsets(ctx, "kept-state")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("kept-state", 0); o.Offset != 9 {
		t.Fatalf("log end offset %d, want 9: a retry was appended", o.Offset)
	}
}

// confluent-kafka's (librdkafka's) idempotent producer, through the proxy
// that loses answers and replays requests (the node advertises the proxy,
// so every connection passes it): every record lands once, in order.
func TestIdempotentProducerConfluentKafka(t *testing.T) {
	ctx := testContext(t, 120*time.Second)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.AdvertisedHost, c.AdvertisedPort = "127.0.0.1", int32(port) })
	px := startDuplicatingProxyOn(t, l, n.Addr().String())
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 2, 1, nil, "librdkafka"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/idempotent_confluent.py", px.addr(), "librdkafka", "2", "300").CombinedOutput()
	// librdkafka logs each cut connection before the script's last line.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || !strings.HasPrefix(lines[len(lines)-1], "ok") {
		t.Fatalf("confluent-kafka: %v\n%s", err, out)
	}
	if px.cut.Load() == 0 {
		t.Fatalf("the proxy cut no connection")
	}
	checkExactlyOnceInOrder(t, consumeValues(ctx, t, n, "librdkafka", 600), 300)
}
