package actors

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
)

// loadProducer writes acks=all records to every partition of a topic
// without pause, one producing goroutine per partition (each waits for an
// answer before it sends the next record), and keeps what was
// acknowledged, with when.
type loadProducer struct {
	t      *testing.T
	cl     *kgo.Client
	topic  string
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	acked   []ackedRecord
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
				r, err := cl.ProduceSync(ctx, rec).First()
				lp.mu.Lock()
				if err == nil {
					lp.acked = append(lp.acked, ackedRecord{partition: r.Partition, offset: r.Offset, value: string(r.Value)})
					lp.ackedAt = append(lp.ackedAt, time.Now())
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

// firstAckAfter is when the first record of one of the partitions was
// acknowledged after since, the zero time for none yet.
func (lp *loadProducer) firstAckAfter(since time.Time, partitions []int32) time.Time {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	for i, at := range lp.ackedAt {
		if at.After(since) && slices.Contains(partitions, lp.acked[i].partition) {
			return at
		}
	}
	return time.Time{}
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
// identical byte for byte. The failover times (kill until the first
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
	var seeds []string
	for i := range 3 {
		seeds = append(seeds, c.node(i).Addr().String())
	}
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

	var failovers []time.Duration
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
		var back time.Time
		probed := probe.writeAfter(active, victimID, fmt.Sprint("probe-", round))
		failovers = append(failovers, probed.Sub(killed))
		waitFor(t, 30*time.Second, "the load's writes acknowledged after the failover", func() bool {
			back = load.firstAckAfter(stopped, led)
			return !back.IsZero()
		})
		t.Logf("round %d: node %d (leader of %v, active controller %v) killed; a probe's acks=all write succeeded after %v, the load's after %v",
			round, victimID, led, wasController, probed.Sub(killed), back.Sub(killed))
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
	sorted := slices.Clone(failovers)
	slices.Sort(sorted)
	t.Logf("%d records acknowledged (%d produce errors); failover (kill to the first acks=all write the new leader acknowledged) p50 %v, max %v over %d kills",
		len(acked), load.failed, sorted[len(sorted)/2], sorted[len(sorted)-1], len(sorted))
}

// failoverProbe measures a failover as a client with no retry policy of
// its own sees it: it sends acks=all writes of one record to partition 0,
// each to the leader that a surviving node's metadata names, until one
// succeeds.
type failoverProbe struct {
	c       *testCluster
	topic   string
	clients map[string]*kgo.Client
	acked   []ackedRecord
}

// writeAfter writes value once the new leader takes it, asking node
// observer (a survivor) where partition 0's leader is, and returns when
// the write was acknowledged.
func (p *failoverProbe) writeAfter(observer int, victim int32, value string) time.Time {
	t := p.c.t
	t.Helper()
	var at time.Time
	waitFor(t, 30*time.Second, "a probe's acks=all write after the failover", func() bool {
		// What a Metadata request to the observer would answer.
		tp, ok := p.c.node(observer).routes.load().image.Topic(p.topic)
		if !ok || tp.Partitions[0].Leader < 0 || tp.Partitions[0].Leader == victim {
			return false
		}
		leader := p.c.node(int(tp.Partitions[0].Leader - 1))
		if leader == nil {
			return false
		}
		offset, err := p.produce(leader.Addr().String(), tp.ID, value)
		if err != nil {
			return false
		}
		at = time.Now()
		p.acked = append(p.acked, ackedRecord{partition: 0, offset: offset, value: value})
		return true
	})
	return at
}

// produce sends one acks=all Produce of one record to partition 0 at addr.
func (p *failoverProbe) produce(addr string, topicID [16]byte, value string) (int64, error) {
	cl := p.clients[addr]
	if cl == nil {
		var err error
		if cl, err = kgo.NewClient(kgo.SeedBrokers(addr)); err != nil {
			return 0, err
		}
		p.clients[addr] = cl
	}
	return rawProduce(cl, p.topic, topicID, 0, value)
}

// rawProduce sends one Produce of one record, with a 1 s timeout, to the
// first seed broker of cl, and returns the record's offset or the
// partition's error (franz-go's producer would retry NOT_ENOUGH_REPLICAS;
// this shows it). The acks are cl's (franz-go sets them on every Produce).
func rawProduce(cl *kgo.Client, topic string, topicID [16]byte, partition int32, value string) (int64, error) {
	b := kmsg.RecordBatch{Magic: 2, NumRecords: 1, FirstTimestamp: 1, MaxTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}
	// A record's length prefix counts the bytes after it (zero-length
	// prefix, one byte, encoded first and replaced).
	rest := (&kmsg.Record{Value: []byte(value)}).AppendTo(nil)[1:]
	b.Records = append(binary.AppendVarint(nil, int64(len(rest))), rest...)
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	logstore.ChecksumBatch(raw)
	req := kmsg.NewPtrProduceRequest()
	req.TimeoutMillis = 1000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, topicID
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, raw
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
	if err != nil {
		return 0, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return 0, fmt.Errorf("produce answered %+v", resp)
	}
	if r := resp.Topics[0].Partitions[0]; r.ErrorCode != 0 {
		return 0, kerr.ErrorForCode(r.ErrorCode)
	} else {
		return r.BaseOffset, nil
	}
}
