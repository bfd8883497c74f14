package actors

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// requestCounter is a kgo hook counting the requests a client wrote, by
// API key: what a test asserts on the wire.
type requestCounter struct{ counts [128]atomic.Int64 }

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (c *requestCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil && key >= 0 && int(key) < len(c.counts) {
		c.counts[key].Add(1)
	}
}

func (c *requestCounter) sent(key kmsg.Key) int64 { return c.counts[key].Load() }

// finalizedTransactionVersion asks the node's ApiVersions for the
// finalized transaction.version (0 when none), and checks the supported
// range it advertises.
func finalizedTransactionVersion(ctx context.Context, t *testing.T, cl *kgo.Client) int16 {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version, req.ClientSoftwareName, req.ClientSoftwareVersion = 3, "gregor-test", "1"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions: %v %+v", err, resp)
	}
	supported := false
	for _, f := range resp.SupportedFeatures {
		supported = supported || f.Name == cluster.TransactionVersionFeature && f.MinVersion == 0 && f.MaxVersion == 2
	}
	if !supported {
		t.Fatalf("ApiVersions supports %+v, not transaction.version 0-2", resp.SupportedFeatures)
	}
	for _, f := range resp.FinalizedFeatures {
		if f.Name == cluster.TransactionVersionFeature {
			if resp.FinalizedFeaturesEpoch < 0 || f.MinVersionLevel != f.MaxVersionLevel {
				t.Fatalf("finalized %+v at epoch %d", f, resp.FinalizedFeaturesEpoch)
			}
			return f.MaxVersionLevel
		}
	}
	return 0
}

// runInterleavedTransactions runs txns transactions of franz-go's
// transactional producer on topic's partitions, committing the even ones
// and aborting the odd ones, then checks that a read_committed consumer
// reads exactly the committed records, in order, and a read_uncommitted one
// every record. It returns the client's request counts and the producer's
// epoch at the end.
func runInterleavedTransactions(ctx context.Context, t *testing.T, n *Node, topic string, partitions int32, txns int) (*requestCounter, int16) {
	t.Helper()
	counter := &requestCounter{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr().String()), kgo.TransactionalID("interleaved-"+topic),
		kgo.TransactionTimeout(10*time.Second), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.WithHooks(counter))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const perPartition = 3
	var committed, all []string
	for i := 0; i < txns; i++ {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for p := int32(0); p < partitions; p++ {
			for j := 0; j < perPartition; j++ {
				v := fmt.Sprintf("%03d-%d-%d", i, p, j)
				all = append(all, v)
				if i%2 == 0 {
					committed = append(committed, v)
				}
				if err := cl.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(v)}).FirstErr(); err != nil {
					t.Fatalf("transaction %d: %v", i, err)
				}
			}
		}
		commit := kgo.TransactionEndTry(i%2 == 0)
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("transaction %d: end (commit %t): %v", i, commit, err)
		}
	}
	s := describeTxn(ctx, t, cl, "interleaved-"+topic)
	for _, c := range []struct {
		isolation kgo.IsolationLevel
		want      []string
	}{{kgo.ReadCommitted(), committed}, {kgo.ReadUncommitted(), all}} {
		got := readValues(ctx, t, n, topic, c.isolation, len(c.want))
		sort.Strings(got)
		sort.Strings(c.want)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Fatalf("read %v\nwant %v", got, c.want)
		}
	}
	return counter, s.ProducerEpoch
}

// readValues reads want records of topic at an isolation level, and fails on
// any record past them; records of one partition must come in the order
// their values sort.
func readValues(ctx context.Context, t *testing.T, n *Node, topic string, isolation kgo.IsolationLevel, want int) []string {
	t.Helper()
	cl := newClient(t, n, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(isolation))
	var got []string
	last := map[int32]string{}
	for len(got) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records", len(got), want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if v := string(r.Value); v <= last[r.Partition] {
				t.Errorf("partition %d: %q after %q", r.Partition, v, last[r.Partition])
			}
			last[r.Partition] = string(r.Value)
			got = append(got, string(r.Value))
		})
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) {
		t.Errorf("extra record %q at %d-%d", r.Value, r.Partition, r.Offset)
	})
	return got
}

// On a cluster at transaction.version 2 (a new cluster's default),
// franz-go's transactional producer runs KIP-890 part 2: no
// AddPartitionsToTxn goes on the wire (the partitions' leaders add them as
// the records arrive), every EndTxn bumps the epoch, and commits and
// aborts interleaved leave read_committed consumers the committed records
// only.
func TestTxnTransactionVersion2(t *testing.T) {
	n := startTxnNode(t)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if v := finalizedTransactionVersion(ctx, t, newClient(t, n)); v != 2 {
		t.Fatalf("transaction.version %d finalized, want 2", v)
	}
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, "tv2"); err != nil {
		t.Fatal(err)
	}
	const txns = 10
	counter, epoch := runInterleavedTransactions(ctx, t, n, "tv2", 3, txns)
	if got := counter.sent(kmsg.AddPartitionsToTxn); got != 0 {
		t.Errorf("the producer sent %d AddPartitionsToTxn under transaction.version 2", got)
	}
	if got := counter.sent(kmsg.EndTxn); got != txns {
		t.Errorf("the producer sent %d EndTxn, want %d", got, txns)
	}
	if epoch != txns {
		t.Errorf("the producer's epoch is %d after %d transactions, want one bump each", epoch, txns)
	}
}

// A cluster formed at transaction.version 0 (bootstrap.transaction.version
// 0: the level of a cluster whose log predates feature levels) advertises
// no finalized level, so franz-go runs transactions as before KIP-890 part
// 2: AddPartitionsToTxn first, the epoch kept across transactions.
func TestTxnTransactionVersion0(t *testing.T) {
	level := int16(0)
	n := startTestNode(t, t.TempDir(), func(c *Config) {
		c.Groups = GroupConfig{OffsetsTopicPartitions: 5, MinSessionTimeoutMs: 500}
		c.Txns = TxnConfig{StateLogPartitions: 5, BootstrapTransactionVersion: &level}
	})
	ctx := testContext(t, 60*time.Second)
	if v := finalizedTransactionVersion(ctx, t, newClient(t, n)); v != 0 {
		t.Fatalf("transaction.version %d finalized, want none", v)
	}
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 2, 1, nil, "tv0"); err != nil {
		t.Fatal(err)
	}
	counter, epoch := runInterleavedTransactions(ctx, t, n, "tv0", 2, 6)
	if got := counter.sent(kmsg.AddPartitionsToTxn); got == 0 {
		t.Error("the producer sent no AddPartitionsToTxn under transaction.version 0")
	}
	if epoch != 0 {
		t.Errorf("the producer's epoch moved to %d without KIP-890 part 2", epoch)
	}
}

// An operator moves transaction.version with UpdateFeatures (kadm), as
// with Kafka's kafka-features tool: a safe downgrade to 0 takes clients
// back to adding partitions themselves, an upgrade to 2 forward again; a
// level this build does not support is refused.
func TestTxnUpdateFeatures(t *testing.T) {
	n := startTxnNode(t)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	update := func(level int16, upgradeType int8) error {
		return updateFeature(ctx, adm, cluster.TransactionVersionFeature, level, upgradeType)
	}
	// The level is read from the node's image, which follows the commit.
	awaitLevel := func(want int16) {
		t.Helper()
		for v := finalizedTransactionVersion(ctx, t, newClient(t, n)); v != want; v = finalizedTransactionVersion(ctx, t, newClient(t, n)) {
			select {
			case <-ctx.Done():
				t.Fatalf("transaction.version %d, want %d", v, want)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if err := update(3, 1); err == nil {
		t.Fatal("transaction.version 3 was finalized")
	}
	if err := update(0, 1); err == nil {
		t.Fatal("a downgrade went through as an upgrade")
	}
	if err := update(0, 2); err != nil {
		t.Fatal(err)
	}
	awaitLevel(0)
	for _, topic := range []string{"at-tv0", "at-tv2"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	if counter, _ := runInterleavedTransactions(ctx, t, n, "at-tv0", 1, 2); counter.sent(kmsg.AddPartitionsToTxn) == 0 {
		t.Error("no AddPartitionsToTxn at transaction.version 0")
	}
	if err := update(2, 1); err != nil {
		t.Fatal(err)
	}
	awaitLevel(2)
	if counter, _ := runInterleavedTransactions(ctx, t, n, "at-tv2", 1, 2); counter.sent(kmsg.AddPartitionsToTxn) != 0 {
		t.Error("AddPartitionsToTxn at transaction.version 2")
	}
}
