package actors

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/txn"
)

// On three nodes, transactional producers whose coordinators are on
// different nodes, each writing to partitions led by all three: every
// node sends the others both adds (AddPartitionsToTxn, for its partitions)
// and markers (WriteTxnMarkers, for its coordinators). A coordinator holds
// an add that comes while its transaction's markers are written, and a
// broker answers a connection's requests in order: when adds and markers
// shared one connection each way, two held adds delayed each other's
// markers and every request on both connections waited out its 10 s
// timeout, about once per hundred transactions. No add and no marker
// request may time out: each node's gregor_txn_verifications_total and
// gregor_txn_marker_requests_total of outcome timed_out stay 0. (The test used to bound each transaction's time
// below that 10 s instead, at 6 s: under the race detector on a loaded
// machine a transaction alone can take longer.)
func TestTxnProducersAcrossNodesNeverStall(t *testing.T) {
	c := newTestCluster(t, 3, 0, func(_ int, cfg *Config) {
		cfg.Txns = TxnConfig{StateLogPartitions: 3, StateLogReplicationFactor: 3, StateLogMinISR: 2}
	})
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 150*time.Second)
	const topic, partitions, producers, txns = "across-nodes", 6, 4, 100
	if _, err := c.admin(active).CreateTopic(ctx, partitions, 3, nil, topic); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic(topic, partitions)
	c.waitISRFull(active, topic, partitions)
	n := c.node(active)
	// One transaction makes __transaction_state; then transactional ids
	// whose coordinators (the leaders of their __transaction_state
	// partitions, one per partition) differ.
	warm, err := kgo.NewClient(kgo.SeedBrokers(n.Addr().String()), kgo.TransactionalID("across-warm-up"), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	if err := warm.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := warm.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := warm.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	warm.Close()
	state, ok := n.routes.load().image.Topic(txn.StateTopic)
	if !ok {
		t.Fatal("no __transaction_state after a transaction")
	}
	var ids []string
	coordinators := map[int32]bool{}
	for i := 0; len(ids) < producers && i < 1000; i++ {
		id := fmt.Sprint("across-", i)
		leader := state.Partitions[txn.PartitionFor(id, state.PartitionCount())].Leader
		if !coordinators[leader] || len(coordinators) == int(state.PartitionCount()) {
			coordinators[leader] = true
			ids = append(ids, id)
		}
	}
	if len(coordinators) < 2 {
		t.Fatalf("the coordinators are all on nodes %v", coordinators)
	}
	var (
		wg        sync.WaitGroup
		slowestMu sync.Mutex
		slowest   time.Duration
	)
	errs := make(chan error, producers)
	for _, id := range ids {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr().String()), kgo.TransactionalID(id), kgo.TransactionTimeout(30*time.Second),
			kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(0))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range txns {
				start := time.Now()
				if err := cl.BeginTransaction(); err != nil {
					errs <- fmt.Errorf("%s: begin %d: %w", id, i, err)
					return
				}
				for range 16 * partitions {
					cl.Produce(ctx, &kgo.Record{Value: []byte(id)}, nil)
				}
				if err := cl.Flush(ctx); err != nil {
					errs <- fmt.Errorf("%s: flush %d: %w", id, i, err)
					return
				}
				if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
					errs <- fmt.Errorf("%s: commit %d: %w", id, i, err)
					return
				}
				took := time.Since(start)
				slowestMu.Lock()
				slowest = max(slowest, took)
				slowestMu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The nodes' counts of the adds their partitions asked and the
	// marker requests their coordinators sent, by outcome.
	var asked, markers [3]map[string]float64
	var askedOK, markersOK float64
	for i := range 3 {
		m := c.node(i).txns.metrics
		asked[i], markers[i] = map[string]float64{}, map[string]float64{}
		for _, o := range []string{outcomeOK, outcomeRefused, outcomeFailed, outcomeTimedOut} {
			asked[i][o] = testutil.ToFloat64(m.verifications.WithLabelValues(o))
			markers[i][o] = testutil.ToFloat64(m.markerRequests.WithLabelValues(o))
		}
		if asked[i][outcomeTimedOut] != 0 || markers[i][outcomeTimedOut] != 0 {
			t.Errorf("node %d: asks %v, marker requests %v: some timed out", i, asked[i], markers[i])
		}
		askedOK += asked[i][outcomeOK]
		markersOK += markers[i][outcomeOK]
	}
	if askedOK == 0 || markersOK == 0 {
		t.Errorf("asks %v, marker requests %v by node: want some of each answered", asked, markers)
	}
	t.Logf("producers %v, coordinators on nodes %v; slowest transaction %v; asks by node %v, marker requests by node %v", ids, coordinators, slowest, asked, markers)
}
