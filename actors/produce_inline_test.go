package actors

import (
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
	"gregor/txn"
)

// handOffCounter reads how many runs the mailboxes of some partitions
// handed to worker goroutines (fetchBoard.handedOff).
type handOffCounter struct {
	boards []*fetchBoard
}

// countHandOffs watches every partition of topics on n.
func countHandOffs(t *testing.T, n *Node, topics ...string) *handOffCounter {
	t.Helper()
	c := &handOffCounter{}
	for _, topic := range topics {
		tp, ok := n.routes.load().image.Topic(topic)
		if !ok {
			t.Fatalf("no topic %s", topic)
		}
		for p := range tp.PartitionCount() {
			c.watch(t, n, topic, p)
		}
	}
	return c
}

// watch adds one partition of n to those counted.
func (c *handOffCounter) watch(t *testing.T, n *Node, topic string, partition int32) {
	t.Helper()
	board := n.fetchBoards.of(n.routes.load().partition(topic, partition))
	if board == nil {
		t.Fatalf("no board for %s-%d", topic, partition)
	}
	c.boards = append(c.boards, board)
}

func (c *handOffCounter) total() int64 {
	var sum int64
	for _, b := range c.boards {
		sum += b.handedOff.Load()
	}
	return sum
}

// TestSmallProduceAppendsOnItsReader: a Produce of a few records to six
// partitions of one node appends every partition on the reader of its
// connection (each finds its partition idle), not the last alone with five
// workers woken for the others (smallAppendBytes).
func TestSmallProduceAppendsOnItsReader(t *testing.T) {
	got, rounds := produceHandOffs(t, nil, 1)
	// Each round handed five of its six partitions to workers before (100
	// in all). The partitions' timer ticks are hand-offs too, more on a
	// loaded machine: the bound leaves them room.
	if limit := int64(2 * rounds); got > limit {
		t.Errorf("%d hand-offs to workers for %d produces of one record to each of 6 partitions, want at most %d", got, rounds, limit)
	}
}

// TestSmallProduceToSyncingPartitionsUsesWorkers: where each append syncs
// the log (flush.messages=1), the partitions of a small Produce still
// append on workers but the last, so that their syncs overlap rather than
// add up on the reader.
func TestSmallProduceToSyncingPartitionsUsesWorkers(t *testing.T) {
	got, rounds := produceHandOffs(t, map[string]*string{"flush.messages": kadm.StringPtr("1")}, 1)
	if want := int64(5 * rounds * 3 / 4); got < want {
		t.Errorf("%d hand-offs to workers for %d produces to 6 syncing partitions, want at least %d", got, rounds, want)
	}
}

// TestLargeProduceAppendsOnItsReader: a Produce past smallAppendBytes
// appends every partition on its reader too; before, it handed all but
// its last partition to workers, five per round here.
func TestLargeProduceAppendsOnItsReader(t *testing.T) {
	got, rounds := produceHandOffs(t, nil, smallAppendBytes/2)
	if limit := int64(2 * rounds); got > limit {
		t.Errorf("%d hand-offs to workers for %d produces of %d KiB to each of 6 partitions, want at most %d", got, rounds, smallAppendBytes/2>>10, limit)
	}
}

// produceHandOffs produces rounds of one record of size bytes to each of
// six partitions of a topic with configs, each round in one request, and
// counts the hand-offs of the partitions' mailboxes to workers.
func produceHandOffs(t *testing.T, configs map[string]*string, size int) (handOffs int64, rounds int) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 60*time.Second)
	const parts = 6
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, parts, 1, configs, "small"); err != nil {
		t.Fatal(err)
	}
	// A linger longer than the Produce calls take, and a flush after
	// them: each round's six records go in one request, uncompressed
	// (its size is what counts).
	cl := newClient(t, n, kgo.DefaultProduceTopic("small"), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Second),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	round := func() {
		for p := range parts {
			cl.Produce(ctx, &kgo.Record{Partition: int32(p), Value: make([]byte, size)}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	round() // metadata, connections
	count := countHandOffs(t, n, "small")
	before := count.total()
	rounds = 20
	for range rounds {
		round()
	}
	return count.total() - before, rounds
}

// TestSmallTransactionWakesNoWorkers: a transaction of a few records over
// six partitions of one node appends its data on the reader (or on the
// coordinator that let it through), its state records and its markers on
// the transaction coordinator's goroutine: its partitions' mailboxes,
// __transaction_state's included, almost never go to a worker. Before,
// each transaction handed about thirteen to workers (five data appends,
// six markers, two state appends), each a goroutine and often an idle
// thread woken.
func TestSmallTransactionWakesNoWorkers(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	transaction := transactionsOnSixPartitions(t, n, "txsmall", "small-txn")
	transaction(0) // __transaction_state made and loaded, producer id
	// The transactional id's __transaction_state partition (the others
	// may still be starting).
	count := countHandOffs(t, n, "txsmall")
	state, ok := n.routes.load().image.Topic(txn.StateTopic)
	if !ok {
		t.Fatal("no __transaction_state after a transaction")
	}
	count.watch(t, n, txn.StateTopic, txn.PartitionFor("small-txn", state.PartitionCount()))
	before := count.total()
	const transactions = 20
	for i := range transactions {
		transaction(i + 1)
	}
	got := count.total() - before
	t.Logf("%d hand-offs to workers for %d transactions", got, transactions)
	// A transaction's next produce may find a partition still writing
	// the last one's marker, and queue behind it for a worker.
	// 255 without inline runs; the partitions' and coordinators' timer
	// ticks count too, more on a loaded machine.
	if limit := int64(4 * transactions); got > limit {
		t.Errorf("%d hand-offs to workers for %d transactions over six partitions, want at most %d", got, transactions, limit)
	}
}

// TestDeferredInlineRunsAfterEverySend: a produce batch sent with a
// collector of runs (inlineRuns) to idle mailboxes is handled by neither
// its post nor a worker, but by the collector's run, on the sender, once
// every batch was sent: until then each partition counts its batch as
// queued (fetchBoard.queued), so a Fetch that the first append wakes reads
// the second partition behind its batch, not from a view about to change.
func TestDeferredInlineRunsAfterEverySend(t *testing.T) {
	m1, inv1, disp1, board1 := newTestMailbox()
	m2, inv2, disp2, board2 := newTestMailbox()
	runs := &inlineRuns{}
	b1 := &produceBatch{inline: true, deferTo: runs}
	b2 := &produceBatch{inline: true, deferTo: runs}
	inv1.onUser = func(any) {
		if q := board2.queued.Load(); q != 1 {
			t.Errorf("while the first partition appends, the second counts %d queued, want 1", q)
		}
	}
	m1.PostUserMessage(b1)
	m2.PostUserMessage(b2)
	wantHandled(t, inv1)
	wantHandled(t, inv2)
	if q1, q2 := board1.queued.Load(), board2.queued.Load(); q1 != 1 || q2 != 1 {
		t.Fatalf("queued %d and %d before the runs, want 1 and 1", q1, q2)
	}
	runs.run()
	wantHandled(t, inv1, b1)
	wantHandled(t, inv2, b2)
	if n := disp1.runAll() + disp2.runAll(); n != 0 {
		t.Fatalf("%d runs handed to workers, want none", n)
	}
	// A mailbox already running takes the batch itself: nothing deferred.
	m3, inv3, disp3, _ := newTestMailbox()
	m3.PostUserMessage(&testMessage{name: "busy"})
	later := &inlineRuns{}
	b3 := &produceBatch{inline: true, deferTo: later}
	m3.PostUserMessage(b3)
	if len(later.runs) != 0 {
		t.Fatalf("a busy mailbox deferred %d runs, want none", len(later.runs))
	}
	disp3.runAll()
	if got := inv3.handled(); len(got) != 2 || got[1] != b3 {
		t.Fatalf("busy mailbox handled %v, want the busy message then the batch", got)
	}
}

// TestProduceBatchesTakeNoYield: a partition takes the produce batch of a
// Produce, which its connection's reader runs (every partition on the
// reader, small or large), without yielding first (takeBatch). Before,
// each batch of a Produce past smallAppendBytes went to a worker, but the
// last, and was taken after one yield.
func TestProduceBatchesTakeNoYield(t *testing.T) {
	var yields atomic.Int64
	// Restored after the node's clean-up (clean-ups run last first): its
	// partitions read the hook until they stop.
	t.Cleanup(func(yield func()) func() { return func() { yieldBeforeTake = yield } }(yieldBeforeTake))
	yieldBeforeTake = func() {
		yields.Add(1)
		runtime.Gosched()
	}
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 60*time.Second)
	const parts, rounds = 6, 20
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, parts, 1, nil, "yields"); err != nil {
		t.Fatal(err)
	}
	// Produce v12 names the topic (v13 takes its id).
	cl := pinnedClient(t, n, int16(kmsg.Produce), 12)
	// round produces one record of size bytes to each partition, acks=all,
	// in one Produce request: a client's linger may split a round into two
	// requests (seen under load: 3 and 3 partitions of the large ones, each
	// request small, so 114 yields for 120 batches).
	round := func(size int) {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 30_000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "yields"
		for p := range parts {
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition, rp.Records = int32(p), valueBatch(make([]byte, size))
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					t.Fatalf("produce to yields-%d: %v", rp.Partition, kerr.ErrorForCode(rp.ErrorCode))
				}
			}
		}
	}
	round(1) // metadata, connections
	before := yields.Load()
	for range rounds {
		round(1)
	}
	if got := yields.Load() - before; got != 0 {
		t.Errorf("%d yields for %d small produces to %d partitions, each run on the reader: want none", got, rounds, parts)
	}
	// Past smallAppendBytes the reader still appends every partition.
	before = yields.Load()
	for range rounds {
		round(smallAppendBytes / (parts - 1))
	}
	if got := yields.Load() - before; got != 0 {
		t.Errorf("%d yields for %d large produces to %d partitions, each run on the reader: want none", got, rounds, parts)
	}
}

// valueBatch encodes a RecordBatch v2 of one record holding value, with
// no producer id.
func valueBatch(value []byte) []byte {
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{Magic: 2, NumRecords: 1, FirstTimestamp: now, MaxTimestamp: now, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}
	r := kmsg.Record{Value: value}
	r.Length = int32(len(r.AppendTo(nil)) - 1) // the body, after its length (0: one byte)
	b.Records = r.AppendTo(nil)
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	logstore.ChecksumBatch(raw)
	return raw
}
