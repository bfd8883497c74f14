package actors

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// loadProducer writes acks=all records to every partition of a topic
// without pause, one producing goroutine per partition (each waits for an
// answer before it sends the next record), and keeps what was
// acknowledged, with when it was sent and when acknowledged.
type loadProducer struct {
	t      *testing.T
	cl     *kgo.Client
	topic  string
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	acked   []ackedRecord
	sentAt  []time.Time
	ackedAt []time.Time
	failed  int
}

func startLoad(t *testing.T, cl *kgo.Client, topic string, partitions int32) *loadProducer {
	ctx, cancel := context.WithCancel(context.Background())
	lp := &loadProducer{t: t, cl: cl, topic: topic, cancel: cancel}
	for p := range partitions {
		lp.wg.Add(1)
		go func() {
			defer lp.wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				rec := &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("p%d-%d", p, i))}
				sent := time.Now()
				r, err := cl.ProduceSync(ctx, rec).First()
				lp.mu.Lock()
				if err == nil {
					lp.acked = append(lp.acked, ackedRecord{partition: r.Partition, offset: r.Offset, value: string(r.Value)})
					lp.sentAt, lp.ackedAt = append(lp.sentAt, sent), append(lp.ackedAt, time.Now())
				} else if ctx.Err() == nil {
					lp.failed++
				}
				lp.mu.Unlock()
			}
		}()
	}
	return lp
}

// count is how many records were acknowledged so far.
func (lp *loadProducer) count() int {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return len(lp.acked)
}

// firstAckAfter is when the first record of one of the partitions sent
// after since was acknowledged, the zero time for none yet. (A record sent
// before since may have been answered already, or been answered by a
// leader that did not need the lost node.)
func (lp *loadProducer) firstAckAfter(since time.Time, partitions []int32) time.Time {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	for i, at := range lp.ackedAt {
		if lp.sentAt[i].After(since) && slices.Contains(partitions, lp.acked[i].partition) {
			return at
		}
	}
	return time.Time{}
}

// lastFirstAckAfter is, over partitions 0 to n-1, the latest of their first
// acknowledgements of records sent after since: when every partition had
// one, the zero time until then.
func (lp *loadProducer) lastFirstAckAfter(since time.Time, n int32) time.Time {
	var last time.Time
	for p := range n {
		at := lp.firstAckAfter(since, []int32{p})
		if at.IsZero() {
			return at
		}
		if at.After(last) {
			last = at
		}
	}
	return last
}

// stop ends the load and returns what was acknowledged.
func (lp *loadProducer) stop() []ackedRecord {
	lp.cancel()
	lp.wg.Wait()
	lp.mu.Lock()
	defer lp.mu.Unlock()
	return slices.Clone(lp.acked)
}

// waitISRFull waits until node observer's image shows every replica of the
// topic's partitions in the ISR.
func (c *testCluster) waitISRFull(observer int, topic string, partitions int32) {
	c.t.Helper()
	waitFor(c.t, 60*time.Second, "full ISRs of "+topic, func() bool {
		tp, ok := c.node(observer).routes.load().image.Topic(topic)
		if !ok {
			return false
		}
		for p := range partitions {
			if part := tp.Partitions[p]; len(part.ISR) != len(part.Replicas) {
				return false
			}
		}
		return true
	})
}

// ledBy lists the partitions of a topic that node id leads in node
// observer's image.
func (c *testCluster) ledBy(observer int, topic string, id int32) []int32 {
	tp, _ := c.node(observer).routes.load().image.Topic(topic)
	var out []int32
	for _, p := range tp.Partitions {
		if p.Leader == id {
			out = append(out, p.Partition)
		}
	}
	return out
}

// A topic with three replicas and min.insync.replicas=2 under continuous
// acks=all load: the leader of partition 0 is killed (its node stopped
// without a controlled shutdown) five times in a row, restarted after each
// failover. Writes go on after every failover; afterwards every
// acknowledged record is read at its offset, in order, through another
// node than the one the producer started from, and the replicas' logs are
// identical byte for byte. After each kill, and before the victim comes
// back, the franz-go producer must have its writes to every partition (those
// the victim led and those it followed) acknowledged again within
// clientRecoveryBound. The failover times (kill until the first
// acknowledgement of a partition the victim led) are logged.
func TestReplicationFailoverUnderLoad(t *testing.T) {
	// Gregor's default failure detection: gossip's LAN timings and the
	// default broker session timeout.
	gossipAddrs := []string{freeUDPAddress(t), freeUDPAddress(t), freeUDPAddress(t)}
	c := newTestCluster(t, 3, 0, func(i int, cfg *Config) {
		cfg.BrokerSessionTimeoutMs, cfg.BrokerHeartbeatIntervalMs = 0, 0
		cfg.GossipListener, cfg.GossipSeeds = gossipAddrs[i], gossipAddrs
	})
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 240*time.Second)
	const topic, partitions = "failover", int32(3)
	if _, err := c.admin(active).CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, topic); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic(topic, partitions)
	c.waitISRFull(active, topic, partitions)
	seeds := c.seedAddrs()
	// franz-go refreshes metadata at most every 5 s by default; Kafka's
	// Java client every retry.backoff.ms (100 ms). A dead leader gives no
	// KIP-951 hint, so the client learns the new one from metadata.
	prod := newClient(t, c.node(0), kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }), kgo.MetadataMinAge(100*time.Millisecond))
	load := startLoad(t, prod, topic, partitions)
	probe := &failoverProbe{c: c, topic: topic, clients: map[string]*kgo.Client{}}
	// Failures are detected early once gossip knows every node.
	waitFor(t, 30*time.Second, "records acknowledged and gossip converged", func() bool {
		for i := range 3 {
			if g := c.node(i).gossipStarted.Load(); g == nil || len((*g).LiveMembers()) != 3 {
				return false
			}
		}
		return load.count() > 100
	})

	var failovers, recoveries []time.Duration
	for round := range 5 {
		observer := active
		tp, _ := c.node(observer).routes.load().image.Topic(topic)
		victimID := tp.Partitions[0].Leader
		victim := int(victimID - 1)
		led := c.ledBy(observer, topic, victimID)
		wasController := victim == active
		killed := time.Now()
		c.stop(victim, false)
		// Answers the victim gave before it stopped do not count.
		stopped := time.Now()
		if victim == active {
			active = c.activeController()
		}
		probed := probe.writeAfter(active, victimID, fmt.Sprint("probe-", round))
		failovers = append(failovers, probed.Sub(killed))
		// The client recovers by itself on every partition, those the
		// victim led and those it followed, before the victim comes back.
		var back, allBack time.Time
		waitFor(t, 30*time.Second, "the load's writes to every partition acknowledged after the failover", func() bool {
			back = load.firstAckAfter(stopped, led)
			allBack = load.lastFirstAckAfter(stopped, partitions)
			return !back.IsZero() && !allBack.IsZero()
		})
		recoveries = append(recoveries, allBack.Sub(killed))
		t.Logf("round %d: node %d (leader of %v, active controller %v) killed; a probe's acks=all write succeeded after %v, "+
			"the load's to %v after %v, to every partition after %v",
			round, victimID, led, wasController, probed.Sub(killed), led, back.Sub(killed), allBack.Sub(killed))
		if d := allBack.Sub(killed); d > clientRecoveryBound {
			t.Errorf("round %d: the producer's acks=all writes were acknowledged on every partition only %v after the kill (bound %v)", round, d, clientRecoveryBound)
		}
		c.startAll()
		c.waitISRFull(active, topic, partitions)
	}
	acked := append(load.stop(), probe.acked...)
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged")
	}
	c.waitReplicasIdentical(active, topic, partitions)
	reader := 1
	checkAcked(t, c.node(reader), topic, acked)
	for _, cl := range probe.clients {
		cl.Close()
	}
	p50, worst := quantiles(failovers)
	lp50, lworst := quantiles(recoveries)
	t.Logf("%d records acknowledged (%d produce errors); failover (kill to the first acks=all write the new leader acknowledged) p50 %v, max %v; "+
		"the producer's writes to every partition acknowledged again p50 %v, max %v, over %d kills",
		len(acked), load.failed, p50, worst, lp50, lworst, len(failovers))
}

// clientRecoveryBound is how long after a leader's node is killed a
// franz-go acks=all producer (default timeouts, 50 ms retry backoff) may go
// without an acknowledgement on any partition: the failure detection, the
// controller's fencing and election, and the client's metadata refresh
// (about 1 to 3 s here), with room for a loaded machine. A leader that
// waited for a fenced follower stalled it for replica.lag.time.max.ms.
const clientRecoveryBound = 5 * time.Second

// quantiles is the median and the maximum of ds.
func quantiles(ds []time.Duration) (p50, worst time.Duration) {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return sorted[len(sorted)/2], sorted[len(sorted)-1]
}
