package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore"
)

// restart starts node i of the cluster again, as cluster up started it
// (same settings, data and log file), recording its pid for cluster down.
func (c *localCluster) restart(i int) {
	c.t.Helper()
	var voters, seeds []string
	for j := 1; j <= c.nodes; j++ {
		voters = append(voters, fmt.Sprintf("%d@%s", j, c.controllerAddr(j)))
		seeds = append(seeds, "127.0.0.1:"+strconv.Itoa(c.basePort+200+j-1))
	}
	nodeDir := filepath.Join(c.dir, fmt.Sprintf("node-%d", i))
	port := func(offset int) string { return "127.0.0.1:" + strconv.Itoa(c.basePort+offset+i-1) }
	cmd := exec.Command(gregorBin, "serve", "--set", "node.id="+strconv.Itoa(i), "--set", "process.roles=broker,controller",
		"--set", fmt.Sprintf("listeners=PLAINTEXT://%s,CONTROLLER://%s", c.addr(i), c.controllerAddr(i)),
		"--set", "controller.quorum.voters="+strings.Join(voters, ","),
		"--set", "gossip.listener="+port(200), "--set", "gossip.seeds="+strings.Join(seeds, ","),
		"--set", "log.dirs="+filepath.Join(nodeDir, "data"), "--set", "metrics.listener="+port(300))
	for _, e := range c.extra {
		cmd.Args = append(cmd.Args, "--set", e)
	}
	logFile, err := os.OpenFile(c.logFile(i), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); err == nil || ok && ws.Signaled() {
			return // stopped by cluster down, or killed by the test
		}
		log, _ := os.ReadFile(c.logFile(i))
		c.exits.Store(i, fmt.Sprintf("%v; its log ends:\n%s", err, tail(strings.TrimSpace(string(log)), 3)))
	}()
	if err := os.WriteFile(filepath.Join(nodeDir, "gregor.pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// partitionState is a partition as node i's Metadata answer has it.
func (c *localCluster) partitionState(i int, topic string) ([]kmsg.MetadataResponseTopicPartition, [16]byte, bool) {
	md, err := c.metadata(i, topic)
	if err != nil || len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 {
		return nil, [16]byte{}, false
	}
	return md.Topics[0].Partitions, md.Topics[0].TopicID, true
}

type ackedRecord struct {
	partition int32
	offset    int64
	value     string
}

// rawProduce writes one record to a partition with acks=all through the
// broker at addr, answered within a second or failed; it returns the
// record's offset.
func rawProduce(addr, topic string, topicID [16]byte, partition int32, value string) (int64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DisableIdempotentWrite())
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	b := kmsg.RecordBatch{Magic: 2, NumRecords: 1, FirstTimestamp: 1, MaxTimestamp: 1, ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}
	rest := (&kmsg.Record{Value: []byte(value)}).AppendTo(nil)[1:] // without its zero length
	b.Records = append(binary.AppendVarint(nil, int64(len(rest))), rest...)
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	logstore.ChecksumBatch(raw)
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 1000
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
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 {
		return 0, kerr.ErrorForCode(p.ErrorCode)
	}
	return resp.Topics[0].Partitions[0].BaseOffset, nil
}

// The failover test with real processes: RF=3 and
// min.insync.replicas=2, a franz-go acks=all producer (idempotence off)
// writes to every partition without pause while the leader of partition 0
// is killed with SIGKILL ten times, restarted each time; after each kill,
// before the victim is back, the producer's writes to every partition must
// be acknowledged again within clientRecoveryBound. Afterwards every
// acknowledged record is consumed at its offset, in order per partition,
// and the replicas' logs are identical byte for byte (no offset holds two
// records). The failover time, from the SIGKILL to the first acks=all
// write the new leader acknowledged (a probe asking a survivor's metadata
// where the leader is), is logged with its p50 and max.
func TestClusterLeaderKilledUnderLoad(t *testing.T) {
	leaderKilledUnderLoad(t, false)
}

// TestClusterControllerKilledUnderLoad is TestClusterLeaderKilledUnderLoad
// with the active controller's node killed each round (the leader of one of
// the partitions, whose writes are probed): the metadata quorum elects a
// new leader first, which fences the victim as soon as it is active and
// gossip reports the victim gone (cluster.Controller.Predecessor). Each
// round logs when the kill was, to read the steps in the nodes' logs
// (GREGOR_E2E_LOGS).
func TestClusterControllerKilledUnderLoad(t *testing.T) {
	leaderKilledUnderLoad(t, true)
}

// leaderKilledUnderLoad is the body of both: each round kills the leader of
// partition 0, or with killController the active controller's node once
// it leads a partition (that partition's writes are probed then).
func leaderKilledUnderLoad(t *testing.T, killController bool) {
	c := clusterUp(t, 3)
	const topic, partitions = "kills", int32(3)
	seeds := kgo.SeedBrokers(c.bootstrap()...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c.createTopics(t, partitions, topic)

	prod, err := kgo.NewClient(seeds, kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var (
		mu    sync.Mutex
		acked []ackedRecord
		// firstAcks are when each partition's load had a record sent
		// after the latest kill (at killedAt) acknowledged for the first
		// time (reset at each kill).
		firstAcks map[int32]time.Time
		killedAt  time.Time
		wg        sync.WaitGroup
	)
	loadCtx, stopLoad := context.WithCancel(ctx)
	for p := range partitions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; loadCtx.Err() == nil; i++ {
				sent := time.Now()
				r, err := prod.ProduceSync(loadCtx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprintf("p%d-%d", p, i))}).First()
				if err == nil {
					mu.Lock()
					acked = append(acked, ackedRecord{partition: r.Partition, offset: r.Offset, value: string(r.Value)})
					// A record sent before the kill may have been answered
					// by the victim already.
					if _, ok := firstAcks[p]; !ok && firstAcks != nil && sent.After(killedAt) {
						firstAcks[p] = time.Now()
					}
					mu.Unlock()
				}
			}
		}()
	}
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitFor(t, 30*time.Second, "acknowledged writes", func() bool { return ackedCount() > 100 })

	var failovers, recoveries []time.Duration
	for round := range kills {
		var (
			ps         []kmsg.MetadataResponseTopicPartition
			topicID    [16]byte
			probed     int32
			victim     int
			controller = -1
		)
		waitFor(t, 30*time.Second, "a partition led by the node to kill", func() bool {
			var ok bool
			ps, topicID, ok = c.partitionState(1+round%3, topic)
			md, err := c.metadata(1 + round%3)
			if !ok || err != nil {
				return false
			}
			controller = int(md.ControllerID)
			if !killController {
				probed, victim = 0, int(ps[0].Leader)
				return true
			}
			for _, p := range ps {
				if int(p.Leader) == controller {
					probed, victim = p.Partition, controller
					return true
				}
			}
			return false
		})
		survivor := victim%3 + 1
		before := ackedCount()
		killed := time.Now()
		mu.Lock()
		firstAcks, killedAt = map[int32]time.Time{}, killed
		mu.Unlock()
		if err := syscall.Kill(c.pid(victim), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		value := fmt.Sprintf("probe-%d", round)
		var back, moved time.Time
		var why string
		defer func() {
			if t.Failed() {
				t.Logf("the last write after the kill: %s", why)
			}
		}()
		waitFor(t, 30*time.Second, "an acks=all write after the leader was killed", func() bool {
			ps, _, ok := c.partitionState(survivor, topic)
			if !ok || int(probed) >= len(ps) || ps[probed].Leader < 1 || int(ps[probed].Leader) == victim {
				why = fmt.Sprintf("metadata %v: %+v", ok, ps)
				return false
			}
			if moved.IsZero() {
				moved = time.Now()
			}
			offset, err := rawProduce(c.addr(int(ps[probed].Leader)), topic, topicID, probed, value)
			if err != nil {
				why = fmt.Sprintf("to %d: %v", ps[probed].Leader, err)
				return false
			}
			back = time.Now()
			mu.Lock()
			acked = append(acked, ackedRecord{partition: probed, offset: offset, value: value})
			mu.Unlock()
			return true
		})
		failovers = append(failovers, back.Sub(killed))
		// The producer recovers by itself on every partition, those the
		// victim led and those it followed, before the victim comes back.
		waitFor(t, 30*time.Second, "the load's writes to every partition acknowledged again", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(firstAcks) == int(partitions)
		})
		mu.Lock()
		loadBack, allBack := firstAcks[probed].Sub(killed), time.Duration(0)
		for _, at := range firstAcks {
			allBack = max(allBack, at.Sub(killed))
		}
		mu.Unlock()
		recoveries = append(recoveries, allBack)
		t.Logf("round %d: node %d (leader of partition %d%s) killed at %s; a survivor's metadata named a new leader after %v, "+
			"acks=all writes acknowledged again after %v (the load's after %v, on every partition after %v)",
			round, victim, probed, controllerNote(controller == victim), killed.UTC().Format("15:04:05.000"),
			moved.Sub(killed), back.Sub(killed), loadBack, allBack)
		if allBack > clientRecoveryBound {
			t.Errorf("round %d: the producer's acks=all writes were acknowledged on every partition only %v after the SIGKILL (bound %v)",
				round, allBack, clientRecoveryBound)
		}
		c.restart(victim)
		c.waitFullISR(t, survivor, 60*time.Second, topic)
		waitFor(t, 30*time.Second, "the load going on", func() bool { return ackedCount() > before+100 })
	}
	stopLoad()
	wg.Wait()

	// Every acknowledged record, at its offset, in order (Q3, Q11).
	want := map[int32]map[int64]string{}
	for _, a := range acked {
		if want[a.partition] == nil {
			want[a.partition] = map[int64]string{}
		}
		if v, ok := want[a.partition][a.offset]; ok {
			t.Fatalf("partition %d offset %d acknowledged twice: %q and %q", a.partition, a.offset, v, a.value)
		}
		want[a.partition][a.offset] = a.value
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.addr(2)), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	last := map[int32]int64{}
	seen := 0
	for seen < len(acked) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d acknowledged records", seen, len(acked))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if prev, ok := last[r.Partition]; ok && r.Offset <= prev {
				t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, prev)
			}
			last[r.Partition] = r.Offset
			if v, ok := want[r.Partition][r.Offset]; ok {
				if v != string(r.Value) {
					t.Fatalf("partition %d offset %d holds %q; %q was acknowledged there", r.Partition, r.Offset, r.Value, v)
				}
				seen++
			}
		})
	}
	// The replicas hold the same bytes (S12).
	c.waitFullISR(t, 1, 60*time.Second, topic)
	waitFor(t, 30*time.Second, "identical replicas", func() bool {
		for p := range partitions {
			var first []byte
			for i := 1; i <= 3; i++ {
				b := partitionBytes(t, filepath.Join(c.dir, fmt.Sprintf("node-%d", i), "data", fmt.Sprintf("%s-%d", topic, p)))
				if i == 1 {
					first = b
				} else if !bytes.Equal(first, b) {
					return false
				}
			}
		}
		return true
	})
	p50, worst := quantiles(failovers)
	lp50, lworst := quantiles(recoveries)
	t.Logf("%d records acknowledged and read back; failover (SIGKILL to the first acknowledged acks=all write) p50 %v, max %v "+
		"(the issue's goal: p50 under 2 s, max under 3 s); the producer's writes to every partition acknowledged again p50 %v, max %v; over %d kills",
		len(acked), p50, worst, lp50, lworst, len(failovers))
}

// kills is how many times the leader of partition 0 is killed: the issue's
// failover benchmark counts ten.
const kills = 10

// clientRecoveryBound is how long after a SIGKILL of a leader's process a
// franz-go acks=all producer (default timeouts, 50 ms retry backoff) may go
// without an acknowledgement on any partition: gossip's failure detection,
// a controller election when the victim was the controller, fencing, the
// partition leader election and the client's metadata refresh (2 to 3 s on
// loopback), with room for a loaded machine. A leader that waited for a
// fenced follower to rejoin the ISR stalled it for replica.lag.time.max.ms.
const clientRecoveryBound = 5 * time.Second

// quantiles is the median and the maximum of ds.
func quantiles(ds []time.Duration) (p50, worst time.Duration) {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return sorted[len(sorted)/2], sorted[len(sorted)-1]
}

// partitionBytes is a partition directory's segment files concatenated in
// offset order.
func partitionBytes(t *testing.T, dir string) []byte {
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

func controllerNote(isController bool) string {
	if isController {
		return ", and the active controller"
	}
	return ""
}
