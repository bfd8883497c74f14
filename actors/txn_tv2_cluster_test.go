package actors

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/txn"
)

// On three nodes formed at transaction.version 2, with the transaction
// coordinator on one node and the partitions led across all three, the
// leaders add their partitions through the coordinator's node over the
// network (AddPartitionsToTxn v5): franz-go's producer sends no
// AddPartitionsToTxn, bumps its epoch on every EndTxn, and read_committed
// consumers read the committed transactions only. Every broker registered
// its feature ranges.
func TestTxnTransactionVersion2ThreeNodes(t *testing.T) {
	c := newTestCluster(t, 3, 0, func(_ int, cfg *Config) {
		cfg.Txns = TxnConfig{StateLogPartitions: 3, StateLogReplicationFactor: 3, StateLogMinISR: 2}
	})
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 120*time.Second)
	if _, err := c.admin(active).CreateTopic(ctx, 6, 3, nil, "tv2-spread"); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("tv2-spread", 6)
	c.waitISRFull(active, "tv2-spread", 6)
	n := c.node(active)
	if v := finalizedTransactionVersion(ctx, t, newClient(t, n)); v != 2 {
		t.Fatalf("transaction.version %d finalized, want 2", v)
	}
	for b := range n.routes.load().image.Brokers() {
		if f, want := b.Features, (cluster.FeatureRange{Name: cluster.TransactionVersionFeature, MinVersion: 0, MaxVersion: 2}); !slices.Contains(f, want) {
			t.Errorf("broker %d registered features %+v", b.ID, f)
		}
	}
	leaders := map[int32]bool{}
	topic, _ := n.routes.load().image.Topic("tv2-spread")
	for _, p := range topic.Partitions {
		leaders[p.Leader] = true
	}
	if len(leaders) < 2 {
		t.Fatalf("the partitions are led by %v only: no remote add", leaders)
	}
	const txns = 8
	counter, epoch := runInterleavedTransactions(ctx, t, n, "tv2-spread", 6, txns)
	if got := counter.sent(kmsg.AddPartitionsToTxn); got != 0 {
		t.Errorf("the producer sent %d AddPartitionsToTxn", got)
	}
	if epoch != txns {
		t.Errorf("the producer's epoch is %d after %d transactions", epoch, txns)
	}
	state, _ := n.routes.load().image.Topic(txn.StateTopic)
	t.Logf("coordinator on node %d, partitions led by %v",
		state.Partitions[txn.PartitionFor("interleaved-tv2-spread", state.PartitionCount())].Leader, leaders)
}
