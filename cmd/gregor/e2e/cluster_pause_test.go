package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// pauseTopicPartitions is how many partitions the pause tests' topic has:
// each node leads two.
const pauseTopicPartitions = 6

// leaderEpochs are a topic's partitions' leaders and leader epochs as
// node i's metadata has them.
func (c *localCluster) leaderEpochs(t *testing.T, i int, topic string) (leaders, epochs map[int32]int32) {
	t.Helper()
	ps, _, ok := c.partitionState(i, topic)
	if !ok {
		t.Fatalf("no metadata of %s from node %d", topic, i)
	}
	leaders, epochs = map[int32]int32{}, map[int32]int32{}
	for _, p := range ps {
		leaders[p.Partition], epochs[p.Partition] = p.Leader, p.LeaderEpoch
	}
	return leaders, epochs
}

// pauseVictim starts a cluster with a topic of RF 3 and a producer that
// writes to it with acks=all until stopped; it returns a node that leads
// some of the topic's partitions and is the active controller's node, or
// not, as controller says.
func pauseVictim(t *testing.T, topic string, controller bool) (c *localCluster, victim int, acked func() int64, stop func() (acked, failed int64)) {
	t.Helper()
	c = clusterUp(t, 3)
	c.createTopics(t, pauseTopicPartitions, topic)
	md, err := c.metadata(1)
	if err != nil {
		t.Fatal(err)
	}
	leaders, _ := c.leaderEpochs(t, 1, topic)
	for i := 1; i <= 3 && victim == 0; i++ {
		for _, l := range leaders {
			if int(l) == i && (int32(i) == md.ControllerID) == controller {
				victim = i
				break
			}
		}
	}
	if victim == 0 {
		t.Fatalf("no node leads a partition of %s as wanted (controller %d, the controller's node wanted: %t): %v", topic, md.ControllerID, controller, leaders)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...), kgo.DefaultProduceTopic(topic),
		kgo.RecordDeliveryTimeout(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var ok, bad atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			for _, r := range cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}) {
				if r.Err == nil {
					ok.Add(1)
				} else if ctx.Err() == nil {
					bad.Add(1)
				}
			}
		}
	}()
	waitFor(t, 30*time.Second, "the producer's first acknowledgements", func() bool { return ok.Load() > 10 })
	var once sync.Once
	stop = func() (int64, int64) {
		once.Do(func() {
			cancel()
			wg.Wait()
			cl.Close()
		})
		return ok.Load(), bad.Load()
	}
	t.Cleanup(func() { stop() })
	return c, victim, ok.Load, stop
}

// A node whose process is stopped (SIGSTOP) for 3 s under a producer, not
// the controller's: membership reports it failed, but its connections to
// the controller stay open, so it keeps its partitions until
// broker.session.timeout.ms; resumed, it goes on as before. No partition's
// leader or leader epoch changed and every record was acknowledged. Before,
// the controller fenced it two heartbeat intervals after membership's
// report, and its partitions' leadership moved.
func TestPausedBrokerKeepsItsPartitions(t *testing.T) {
	const topic = "paused"
	c, victim, progress, stop := pauseVictim(t, topic, false)
	leaders, epochs := c.leaderEpochs(t, 1, topic)

	pid := c.pid(victim)
	resume := pauseProcess(t, pid)
	// The fault itself lasts 3 s: this is its length, not a wait for a
	// condition.
	time.Sleep(3 * time.Second)
	resume()
	resumedAt := progress()
	waitFor(t, 30*time.Second, "the producer to go on after the pause", func() bool { return progress() > resumedAt+20 })
	// Every partition takes writes.
	acked := c.produceAcked(t, topic, pauseTopicPartitions, 5)
	if len(acked) != pauseTopicPartitions {
		t.Fatalf("records acknowledged on %d partitions after the pause, want %d", len(acked), pauseTopicPartitions)
	}
	okCount, failed := stop()
	t.Logf("node %d paused 3 s: %d records acknowledged during the test, %d failed", victim, okCount, failed)
	if failed > 0 {
		t.Errorf("%d records failed", failed)
	}
	for i := 1; i <= 3; i++ {
		gotLeaders, gotEpochs := c.leaderEpochs(t, i, topic)
		for p := range leaders {
			if gotLeaders[p] != leaders[p] || gotEpochs[p] != epochs[p] {
				t.Errorf("node %d: partition %d led by %d at leader epoch %d, was %d at %d: leadership moved while node %d was paused",
					i, p, gotLeaders[p], gotEpochs[p], leaders[p], epochs[p], victim)
			}
		}
	}
}

// A node killed (SIGKILL) under a producer, not the controller's: its
// kernel closes its connections and membership reports it failed, so the
// controller fences it within seconds, not at the end of its session, and
// its partitions get new leaders.
func TestKilledBrokerFailsOverWithinSeconds(t *testing.T) {
	killedFailsOver(t, "killed", false)
}

// As TestKilledBrokerFailsOverWithinSeconds, for the active controller's
// node: the next controller takes the closes of its connections, which
// came before it was elected, as evidence too.
func TestKilledControllerFailsOverWithinSeconds(t *testing.T) {
	killedFailsOver(t, "killedcontroller", true)
}

func killedFailsOver(t *testing.T, topic string, controller bool) {
	c, victim, _, stop := pauseVictim(t, topic, controller)
	leaders, _ := c.leaderEpochs(t, 1, topic)
	observer := victim%3 + 1
	killed := time.Now()
	if err := syscall.Kill(c.pid(victim), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	defer c.restart(victim)
	waitFor(t, 30*time.Second, fmt.Sprintf("new leaders for node %d's partitions", victim), func() bool {
		ps, _, ok := c.partitionState(observer, topic)
		if !ok {
			return false
		}
		for _, p := range ps {
			if p.Leader == int32(victim) || p.Leader < 0 {
				return false
			}
		}
		return true
	})
	took := time.Since(killed)
	okCount, _ := stop()
	moved := 0
	for _, l := range leaders {
		if int(l) == victim {
			moved++
		}
	}
	t.Logf("node %d killed: %d partitions led elsewhere after %v (%d records acknowledged)", victim, moved, took, okCount)
	// broker.session.timeout.ms is 6 s: a failover that waited for it
	// would take longer.
	if took > 5*time.Second {
		t.Errorf("node %d's partitions moved %v after it was killed, want within 5 s", victim, took)
	}
}
