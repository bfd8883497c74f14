package actors

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fastReplication makes a test cluster's followers leave the ISR after a
// second without catching up (Kafka's default is 30 s).
func fastReplication(_ int, cfg *Config) {
	cfg.StaticBrokerConfigs["replica.lag.time.max.ms"] = "1000"
}

// logBytes is the concatenation of a partition directory's segment files
// in offset order: what the replica's log holds, byte for byte.
func logBytes(t *testing.T, dir string) []byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var out []byte
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// waitReplicasIdentical waits until every replica of the topic's partitions
// is in the ISR (as node observer's image says) and the running replicas'
// logs are identical byte for byte (S12).
func (c *testCluster) waitReplicasIdentical(observer int, topic string, partitions int32) {
	c.t.Helper()
	var why string
	identical := func() bool {
		img := c.node(observer).routes.load().image
		tp, ok := img.Topic(topic)
		if !ok {
			why = "no topic"
			return false
		}
		for p := range partitions {
			part := tp.Partitions[p]
			if len(part.ISR) != len(part.Replicas) {
				why = fmt.Sprintf("partition %d ISR %v of replicas %v", p, part.ISR, part.Replicas)
				return false
			}
			var first []byte
			for _, id := range part.Replicas {
				n := c.node(int(id - 1))
				if n == nil {
					continue
				}
				b := logBytes(c.t, n.partitionDir(topic, p))
				if first == nil {
					first = b
				} else if !bytes.Equal(first, b) {
					why = fmt.Sprintf("partition %d: replica %d holds %d bytes, another %d", p, id, len(b), len(first))
					return false
				}
			}
		}
		return true
	}
	deadline := time.Now().Add(30 * time.Second)
	for !identical() {
		if time.Now().After(deadline) {
			c.t.Fatalf("replicas of %s not identical after 30s: %s", topic, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ackedRecord is a record the cluster acknowledged.
type ackedRecord struct {
	partition int32
	offset    int64
	value     string
}

// produceAcked produces count records with acks=all through cl, sync,
// returning those acknowledged; any failure fails the test.
func produceAcked(t *testing.T, ctx context.Context, cl *kgo.Client, topic, prefix string, count int) []ackedRecord {
	t.Helper()
	var out []ackedRecord
	for i := range count {
		r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}).First()
		if err != nil {
			t.Fatalf("produce %s-%d: %v", prefix, i, err)
		}
		out = append(out, ackedRecord{partition: r.Partition, offset: r.Offset, value: string(r.Value)})
	}
	return out
}

// checkAcked consumes the topic from the start through node i and checks
// that every acknowledged record is read at its offset, and that offsets
// rise in every partition (Q3, Q11).
func checkAcked(t *testing.T, n *Node, topic string, acked []ackedRecord) {
	t.Helper()
	want := map[int32]map[int64]string{}
	total := 0
	for _, a := range acked {
		if want[a.partition] == nil {
			want[a.partition] = map[int64]string{}
		}
		if v, ok := want[a.partition][a.offset]; ok {
			t.Fatalf("partition %d offset %d acknowledged twice: for %q and for %q", a.partition, a.offset, v, a.value)
		}
		want[a.partition][a.offset] = a.value
		total++
	}
	ctx := testContext(t, 60*time.Second)
	cl := newClient(t, n, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	last := map[int32]int64{}
	readAt := map[int32]map[int64]bool{}
	seen := 0
	for seen < total {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			var missing []string
			for p, offsets := range want {
				for o, v := range offsets {
					if len(missing) < 10 && (o > last[p] || !readAt[p][o]) {
						missing = append(missing, fmt.Sprintf("%d@%d=%q", p, o, v))
					}
				}
			}
			t.Fatalf("read %d of %d acknowledged records; not read, among others: %v", seen, total, missing)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if prev, ok := last[r.Partition]; ok && r.Offset <= prev {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
			}
			last[r.Partition] = r.Offset
			if v, ok := want[r.Partition][r.Offset]; ok {
				if v != string(r.Value) {
					t.Fatalf("partition %d offset %d holds %q, %q was acknowledged there", r.Partition, r.Offset, r.Value, v)
				}
				if readAt[r.Partition] == nil {
					readAt[r.Partition] = map[int64]bool{}
				}
				readAt[r.Partition][r.Offset] = true
				seen++
			}
		})
	}
}

// A topic with three replicas and min.insync.replicas=2 replicates: every
// replica's log is identical once they converge. Its leaders killed one
// after the other (and restarted), acks=all writes go on after each
// failover, every acknowledged record is read back at its offset, and the
// replicas converge again, byte for byte.
func TestClusterReplicatesThroughLeaderKills(t *testing.T) {
	c := newTestCluster(t, 3, 0, fastReplication)
	c.startAll()
	active := c.activeController()
	ctx := testContext(t, 120*time.Second)
	if _, err := c.admin(active).CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("2")}, "replicated"); err != nil {
		t.Fatal(err)
	}
	c.waitForTopic("replicated", 3)
	seeds := c.seedAddrs()
	prod := newClient(t, c.node(0), kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	acked := produceAcked(t, ctx, prod, "replicated", "before", 60)
	c.waitReplicasIdentical(active, "replicated", 3)

	for round := range 2 {
		img := c.node(active).routes.load().image
		tp, _ := img.Topic("replicated")
		victim := int(tp.Partitions[0].Leader - 1)
		killed := time.Now()
		c.stop(victim, false)
		acked = append(acked, produceAcked(t, ctx, prod, "replicated", fmt.Sprint("round", round), 60)...)
		t.Logf("round %d: node %d killed; 60 acks=all records written in %v", round, victim+1, time.Since(killed))
		c.startAll()
		if victim == active {
			active = c.activeController()
		}
		c.waitReplicasIdentical(active, "replicated", 3)
	}
	checkAcked(t, c.node(active), "replicated", acked)
}
