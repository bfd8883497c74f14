package actors

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startTxnNode starts a node for transaction tests: few internal
// partitions, groups that rebalance at once.
func startTxnNode(t *testing.T) *Node {
	t.Helper()
	return startTestNode(t, t.TempDir(), func(c *Config) {
		c.Groups = GroupConfig{OffsetsTopicPartitions: 5, MinSessionTimeoutMs: 500}
		c.Txns = TxnConfig{StateLogPartitions: 5}
	})
}

// eosMember is one member of the exactly-once stage: a GroupTransactSession
// that reads "eos-in" (read_committed), writes each record's value to the
// same partition of "eos-out", and commits its offsets in the transaction.
type eosMember struct {
	stop, done chan struct{}
}

func startEOSMember(t *testing.T, ctx context.Context, n *Node, id int, errs chan<- error, opts ...kgo.Opt) *eosMember {
	m := &eosMember{stop: make(chan struct{}), done: make(chan struct{})}
	sess, err := kgo.NewGroupTransactSession(append([]kgo.Opt{kgo.SeedBrokers(n.Addr().String()),
		kgo.TransactionalID(fmt.Sprint("eos-", id)), kgo.TransactionTimeout(10 * time.Second),
		kgo.ConsumerGroup("eos"), kgo.ConsumeTopics("eos-in"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.HeartbeatInterval(100 * time.Millisecond), kgo.SessionTimeout(3 * time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(m.done)
		defer sess.Close()
		for {
			select {
			case <-m.stop:
				return
			default:
			}
			pollCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			fs := sess.PollFetches(pollCtx)
			cancel()
			if err := sess.Begin(); err != nil {
				errs <- fmt.Errorf("member %d: begin: %w", id, err)
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				sess.Produce(ctx, &kgo.Record{Topic: "eos-out", Partition: r.Partition, Value: r.Value}, nil)
			})
			if _, err := sess.End(ctx, kgo.TryCommit); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("member %d: end: %w", id, err)
				return
			}
		}
	}()
	return m
}

func (m *eosMember) close() {
	close(m.stop)
	<-m.done
}

// franz-go's exactly-once chain on one node: a GroupTransactSession stage
// reads its input and writes its output with the offsets committed in the
// same transaction, while members join and leave; the output holds every
// input record once, in order per partition, and the group's offsets end
// at the input's end. The node is at transaction.version 2, so the members
// send neither AddPartitionsToTxn nor AddOffsetsToTxn (KIP-890 part 2:
// Produce v12 and TxnOffsetCommit v5 add their partitions).
func TestTxnGroupTransactSession(t *testing.T) {
	n := startTxnNode(t)
	counter := &requestCounter{}
	runGroupTransactSession(t, n, kgo.WithHooks(counter))
	for _, key := range []kmsg.Key{kmsg.AddPartitionsToTxn, kmsg.AddOffsetsToTxn} {
		if got := counter.sent(key); got != 0 {
			t.Errorf("the members sent %d %s under transaction.version 2", got, kmsg.NameForKey(int16(key)))
		}
	}
	for _, key := range []kmsg.Key{kmsg.TxnOffsetCommit, kmsg.EndTxn} {
		if counter.sent(key) == 0 {
			t.Errorf("the members sent no %s", kmsg.NameForKey(int16(key)))
		}
	}
}

// The same chain on a node at transaction.version 0: the members add
// partitions and offsets with AddPartitionsToTxn and AddOffsetsToTxn, as
// before KIP-890 part 2.
func TestTxnGroupTransactSessionVersion0(t *testing.T) {
	level := int16(0)
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		c.Groups = GroupConfig{OffsetsTopicPartitions: 5, MinSessionTimeoutMs: 500}
		c.Txns = TxnConfig{StateLogPartitions: 5, BootstrapTransactionVersion: &level}
	})
	counter := &requestCounter{}
	runGroupTransactSession(t, n, kgo.WithHooks(counter))
	for _, key := range []kmsg.Key{kmsg.AddPartitionsToTxn, kmsg.AddOffsetsToTxn} {
		if counter.sent(key) == 0 {
			t.Errorf("the members sent no %s under transaction.version 0", kmsg.NameForKey(int16(key)))
		}
	}
}

// runGroupTransactSession runs the exactly-once chain on n, with members
// joining and leaving, and checks its output and the group's offsets.
func runGroupTransactSession(t *testing.T, n *Node, opts ...kgo.Opt) {
	t.Helper()
	ctx := testContext(t, 120*time.Second)
	cl := newClient(t, n, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	adm := kadm.NewClient(cl)
	const partitions, perPartition = 3, 200
	for _, topic := range []string{"eos-in", "eos-out"} {
		if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	errs := make(chan error, 16)
	members := []*eosMember{startEOSMember(t, ctx, n, 0, errs, opts...)}
	produceNumbered(ctx, t, cl, "eos-in", partitions, perPartition/2, 10)
	members = append(members, startEOSMember(t, ctx, n, 1, errs, opts...), startEOSMember(t, ctx, n, 2, errs, opts...))
	produceRange(ctx, t, cl, "eos-in", partitions, perPartition/2, perPartition)
	members[0].close()
	members = members[1:]
	got := consumeCommitted(ctx, t, n, "eos-out", partitions*perPartition)
	for _, m := range members {
		m.close()
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	checkExactlyOnceInOrder(t, got, perPartition)
	offsets, err := adm.FetchOffsets(ctx, "eos")
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < partitions; p++ {
		if o, ok := offsets.Lookup("eos-in", p); !ok || o.At != perPartition {
			t.Errorf("group offset of eos-in/%d: %+v", p, o)
		}
	}
}

// consumeCommitted reads want records of topic with read_committed, and
// fails on any record past them.
func consumeCommitted(ctx context.Context, t *testing.T, n *Node, topic string, want int) map[int32][]string {
	t.Helper()
	cl := newClient(t, n, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	got, total := map[int32][]string{}, 0
	for total < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d committed records", total, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], string(r.Value))
			total++
		})
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) {
		t.Errorf("extra record %q at %d-%d", r.Value, r.Partition, r.Offset)
	})
	return got
}

// confluent-kafka's (librdkafka's) transactional producer: transactions
// committed and aborted in turn, with send_offsets_to_transaction; a
// read_committed consumer sees only the committed records, a
// read_uncommitted one sees them all, and the group's offsets move with the
// committed transactions only.
func TestTxnConfluentKafka(t *testing.T) {
	if !markersServed() {
		t.Skip("partitions do not take transaction markers yet")
	}
	n := startTxnNode(t)
	ctx := testContext(t, 120*time.Second)
	cl := newClient(t, n, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "ck-in"); err != nil {
		t.Fatal(err)
	}
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "ck-out"); err != nil {
		t.Fatal(err)
	}
	produceNumbered(ctx, t, cl, "ck-in", 2, 40, 40)
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/txn_confluent.py", n.Addr().String()).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || !strings.HasPrefix(lines[len(lines)-1], "ok") {
		t.Fatalf("confluent-kafka: %v\n%s", err, out)
	}
}

// A zombie's records never reach read_committed consumers, and the
// transactions of the producer that fenced it commit (franz-go).
func TestTxnFencedProducerRecordsAborted(t *testing.T) {
	if !markersServed() {
		t.Skip("partitions do not take transaction markers yet")
	}
	n := startTxnNode(t)
	ctx := testContext(t, 60*time.Second)
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 1, 1, nil, "zombies"); err != nil {
		t.Fatal(err)
	}
	open := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr().String()), kgo.TransactionalID("same"),
			kgo.DefaultProduceTopic("zombies"), kgo.TransactionTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	old := open()
	if err := old.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := old.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fresh := open()
	if err := fresh.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := fresh.ProduceSync(ctx, &kgo.Record{Value: []byte("fresh")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := fresh.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if err := old.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("the zombie committed")
	}
	got := consumeCommitted(ctx, t, n, "zombies", 1)
	if v := got[0]; len(v) != 1 || v[0] != "fresh" {
		t.Fatalf("read_committed read %v", v)
	}
}
