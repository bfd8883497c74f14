package benchmarks

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The replication cell: a local cluster of three gregor processes started
// with `gregor cluster up --nodes 3` (each a broker and a controller voter,
// on one machine, so the three share its cores and the replicas' fetches
// cross loopback), 6 partitions. "gregor" is replication factor 3 with
// min.insync.replicas=2 and acks=all; its reference, "ref-gregor-rf1-acks1",
// is the same cluster with replication factor 1 and acks=1: the ratio is
// what replication costs (the clustering issue's goal is 0.5 or more). The
// broker CPU per record is the sum over the three processes (utime+stime
// from /proc); allocations are not reported. Each cell also reports the
// producer's layout (rec/batch, batch/req), ms/req (the mean time from a
// Produce's write to its answer: with five requests in flight per broker,
// acks=all's replication round trip bounds the throughput) and
// client-ns/rec (this process's CPU per record: with the brokers', what the
// cell costs the machine's two cores) and switches/krec (the three brokers'
// context switches per thousand records, from /proc: a thread's sleep and
// wake-up is dear on a virtual machine; client-switches/krec is the same
// for this process). A floor reference,
// ref-gregor-rf1-x3-acks1 (benchCopies), stores every record three times
// without replication: gregor's ratio to it is what the replication
// protocol itself costs beyond the three copies (GREGOR_BENCH_RF1_COPIES=0
// leaves it out).

var (
	clusterOnce   sync.Once
	clusterTarget *target
	clusterErr    error
	clusterBin    string
	clusterDir    string
	// clusterClient asks each node of the cluster directly, for readiness.
	clusterClient *kgo.Client
	// clusterMetrics are the nodes' metrics listeners (cluster up's
	// layout: base+300+i).
	clusterMetrics []string
)

// replicatedCluster starts the three-node cluster once per process, and
// warms it up.
func replicatedCluster(b *testing.B) *target {
	b.Helper()
	clusterOnce.Do(func() {
		clusterTarget, clusterErr = startCluster()
		if clusterErr == nil && os.Getenv("GREGOR_BENCH_CLUSTER_WARMUP") != "0" {
			warmUpCluster(b, clusterTarget)
		}
	})
	if clusterErr != nil {
		b.Fatal(clusterErr)
	}
	return clusterTarget
}

// warmUpCluster produces every record set once, untimed, at replication
// factor 3 into a topic it then deletes. Whichever cell ran first on a
// fresh cluster paid alone for what any first run pays: connections and
// first-time code paths, and above all the page cache growing into memory
// the machine never touched (on a virtual machine whose memory its host
// backs on first touch, copying into such pages cost 3.5 us/KiB where
// reused ones cost 0.2). The cell that ran second ran in the pages the
// first freed, so the order alone moved the RF3/RF1 ratio between 0.15
// and 1.8. GREGOR_BENCH_CLUSTER_WARMUP=0 skips it.
func warmUpCluster(b *testing.B, t *target) {
	for _, set := range recordSets() {
		topic := createReplicatedTopic(b, t, 6, 3)
		produceAll(b, t, topic, set, kgo.AllISRAcks(), false)
		t.deleteTopic(b, topic)
	}
}

func startCluster() (*target, error) {
	dir, err := tempDir()
	if err != nil {
		return nil, err
	}
	clusterBin = filepath.Join(dir, "gregor-cluster")
	if prebuilt := os.Getenv("GREGOR_BENCH_BIN"); prebuilt != "" {
		// A binary built elsewhere: another revision, for an A/B run.
		clusterBin = prebuilt
	} else if err := goBuild(clusterBin, "gregor/cmd/gregor"); err != nil {
		return nil, err
	}
	clusterDir = filepath.Join(dir, "cluster")
	base, err := freeBasePort(3)
	if err != nil {
		return nil, err
	}
	args := []string{"cluster", "up", "--nodes", "3", "--dir", clusterDir, "--base-port", strconv.Itoa(base)}
	// GREGOR_BENCH_CLUSTER_SET="key=value key=value" tries other settings
	// on every node.
	for _, kv := range strings.Fields(os.Getenv("GREGOR_BENCH_CLUSTER_SET")) {
		args = append(args, "--set", kv)
	}
	out, err := exec.Command(clusterBin, args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("cluster up: %v\n%s", err, out)
	}
	var seeds []string
	for i := range 3 {
		seeds = append(seeds, "127.0.0.1:"+strconv.Itoa(base+i))
		clusterMetrics = append(clusterMetrics, "127.0.0.1:"+strconv.Itoa(base+300+i))
	}
	var pids []int
	for i := range 3 {
		raw, err := os.ReadFile(filepath.Join(clusterDir, fmt.Sprintf("node-%d", i+1), "gregor.pid"))
		if err != nil {
			return nil, fmt.Errorf("cluster node %d: %w", i+1, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, fmt.Errorf("cluster node %d: pid file: %w", i+1, err)
		}
		pids = append(pids, pid)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		return nil, err
	}
	clusterClient = cl
	return &target{name: "gregor-cluster", addr: seeds[0], pids: pids, admin: kadm.NewClient(cl)}, nil
}

// stopCluster takes the cluster down (TestMain, at the end).
func stopCluster() {
	if clusterTarget != nil {
		_ = exec.Command(clusterBin, "cluster", "down", "--dir", clusterDir).Run()
	}
}

// freeBasePort finds a base port whose cluster ports (client, CONTROLLER,
// gossip and metrics of every node) are free.
func freeBasePort(nodes int) (int, error) {
	low, span := 20000, 30000
	if lo, hi, ok := strings.Cut(os.Getenv("GREGOR_BENCH_PORTS"), "-"); ok {
		// The cluster's ports are base+offset+i, offsets up to 300.
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || h-l < 300+nodes {
			return 0, fmt.Errorf("GREGOR_BENCH_PORTS=%s: want LOW-HIGH, at least %d apart", os.Getenv("GREGOR_BENCH_PORTS"), 300+nodes)
		}
		low, span = l, h-l-300-nodes+1
	}
	for range 50 {
		base := low + rand.IntN(span)
		free := true
		for _, offset := range []int{0, 100, 200, 300} {
			for i := range nodes {
				l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+offset+i))
				if err != nil {
					free = false
					break
				}
				l.Close()
			}
		}
		if free {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no free ports for a cluster")
}

// BenchmarkReplicatedProduce: one iteration produces a whole record set
// into a fresh topic of the three-node cluster and waits for every
// acknowledgement, at replication factor 3 with acks=all and, as the
// reference, at replication factor 1 with acks=1.
func BenchmarkReplicatedProduce(b *testing.B) {
	for _, set := range recordSets() {
		name := fmt.Sprintf("rec=%s/parts=6", set.name)
		b.Run(name+"/gregor", func(b *testing.B) { benchReplicated(b, set, 3, kgo.AllISRAcks()) })
		b.Run(name+"/ref-gregor-rf1-acks1", func(b *testing.B) { benchReplicated(b, set, 1, kgo.LeaderAck()) })
		if os.Getenv("GREGOR_BENCH_RF3_ACKS1") == "1" {
			// Replication factor 3 with acks=1: the brokers replicate as
			// in the gregor cell, but the producer is answered after the
			// leader's append, as at RF1. Beside the two cells it tells
			// what in the client's CPU per record follows the brokers'
			// load and what follows the acknowledgement's latency.
			b.Run(name+"/ref-gregor-rf3-acks1", func(b *testing.B) { benchReplicated(b, set, 3, kgo.LeaderAck()) })
		}
		if os.Getenv("GREGOR_BENCH_RF1_COPIES") != "0" {
			b.Run(name+"/ref-gregor-rf1-x3-acks1", func(b *testing.B) { benchCopies(b, set, replicaCopies) })
		}
	}
}

// replicaCopies is how many times the floor cell stores each record.
const replicaCopies = 3

// benchCopies is the floor reference of the replication cell
// (GREGOR_BENCH_RF1_COPIES=0 leaves it out): the same cluster stores every record
// copies times without replication, one client producing it into copies
// topics of replication factor 1 with acks=1. The kernel copies as many
// bytes as replication factor 3 does (three socket reads and three writes
// per record on the brokers, against one read and write on the leader, two
// sends to followers, two reads and two writes on them), the client sends
// and encodes three times what it does at RF3, and no round trip waits for
// a follower. Its records/s counts each record once: what RF3 would reach if
// replicating cost what storing on three leaders costs.
func benchCopies(b *testing.B, set recordSet, copies int) {
	t := replicatedCluster(b)
	b.StopTimer()
	b.ResetTimer()
	b.SetBytes(set.payload())
	var total window
	var client time.Duration
	for i := 0; i < b.N; i++ {
		var topics []string
		for range copies {
			topics = append(topics, createReplicatedTopic(b, t, 6, 1))
		}
		before := processCPU()
		total.add(produceInto(b, t, topics, set, kgo.LeaderAck(), true, nil))
		client += processCPU() - before
		dropTopics(b, t, topics...)
	}
	report(b, t, set, total)
	b.ReportMetric(float64(client.Nanoseconds())/float64(set.n*b.N), "client-ns/rec")
}

func benchReplicated(b *testing.B, set recordSet, rf int16, acks kgo.Acks) {
	t := replicatedCluster(b)
	b.StopTimer()
	b.ResetTimer()
	b.SetBytes(set.payload())
	var total window
	var client time.Duration
	stats := &replicatedStats{}
	var switches, clientSwitches int64
	self := []int{os.Getpid()}
	served := map[string]float64{}
	for i := 0; i < b.N; i++ {
		topic := createReplicatedTopic(b, t, 6, rf)
		servedBefore := servedRequests()
		before, switchesBefore, clientSwitchesBefore := processCPU(), contextSwitches(t.pids), contextSwitches(self)
		total.add(produceAllCounted(b, t, topic, set, acks, true, stats))
		client += processCPU() - before
		switches += contextSwitches(t.pids) - switchesBefore
		clientSwitches += contextSwitches(self) - clientSwitchesBefore
		for api, n := range servedRequests() {
			served[api] += n - servedBefore[api]
		}
		dropTopics(b, t, topic)
	}
	report(b, t, set, total)
	stats.report(b)
	// The brokers' context switches per thousand records (sysmon's sleeps
	// among them), counted around the produce as the client CPU is.
	b.ReportMetric(float64(switches)*1000/float64(set.n*b.N), "switches/krec")
	// The Fetch requests the nodes answered (their followers' and, at
	// RF1, none) per Produce request: the replication round trips each
	// produced request cost.
	if served["Produce"] > 0 {
		b.ReportMetric(served["Fetch"]/served["Produce"], "fetch/produce")
	}
	// The client's CPU per record (this process: the producer, and the
	// harness's waits): with the brokers', what the cell costs the
	// machine, whose two cores bound it.
	b.ReportMetric(float64(client.Nanoseconds())/float64(set.n*b.N), "client-ns/rec")
	// The same within the measured window alone: the producer's CPU
	// without the harness's set-up and quiescence polls around it.
	b.ReportMetric(float64(total.client.Nanoseconds())/float64(set.n*b.N), "client-window-ns/rec")
	// Minor page faults per thousand records in the window, the brokers'
	// and the client's: memory touched for the first time (or again after
	// the Go runtime returned it to the kernel).
	b.ReportMetric(float64(total.faults)*1000/float64(set.n*b.N), "faults/krec")
	b.ReportMetric(float64(total.clientFaults)*1000/float64(set.n*b.N), "client-faults/krec")
	// The client's involuntary context switches per thousand records in
	// the window: how often the brokers' (or anyone's) work took its
	// core.
	b.ReportMetric(float64(total.clientPreempted)*1000/float64(set.n*b.N), "client-preempted/krec")
	// The client's own context switches per thousand records: at RF3 its
	// CPU per record is higher than at RF1 for the same records and
	// requests, and this tells whether it waits and wakes more.
	b.ReportMetric(float64(clientSwitches)*1000/float64(set.n*b.N), "client-switches/krec")
}

// contextSwitches is the sum of the voluntary and involuntary context
// switches of every thread of pids so far (/proc/<pid>/task/*/status; a
// thread that exited takes its count with it, and Go runtimes keep their
// threads). 0 where /proc has none.
func contextSwitches(pids []int) int64 {
	var total int64
	for _, pid := range pids {
		dir := "/proc/" + strconv.Itoa(pid) + "/task"
		tasks, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, task := range tasks {
			raw, err := os.ReadFile(dir + "/" + task.Name() + "/status")
			if err != nil {
				continue // the thread exited meanwhile
			}
			for _, line := range strings.Split(string(raw), "\n") {
				if rest, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
					total += n
				} else if rest, ok := strings.CutPrefix(line, "nonvoluntary_ctxt_switches:"); ok {
					n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
					total += n
				}
			}
		}
	}
	return total
}

// processPreemptions is this process's involuntary context switches so far.
func processPreemptions() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Nivcsw
}

// processCPU is this process's CPU time so far (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// replicatedStats adds to the producer's layout (produceStats) the mean
// time from a Produce request's write to the end of its answer (ms/req),
// which acks=all lengthens by the replication round trip: with a bounded
// number of requests in flight, the producer's throughput is at most what
// they carry per that time.
type replicatedStats struct {
	produceStats
	e2eMu sync.Mutex
	e2e   time.Duration
	e2eN  int64
}

var _ kgo.HookBrokerE2E = (*replicatedStats)(nil)

func (s *replicatedStats) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if key != int16(kmsg.Produce) || e.Err() != nil {
		return
	}
	s.e2eMu.Lock()
	defer s.e2eMu.Unlock()
	s.e2e += e.DurationE2E()
	s.e2eN++
}

func (s *replicatedStats) report(b *testing.B) {
	s.produceStats.report(b)
	s.e2eMu.Lock()
	defer s.e2eMu.Unlock()
	if s.e2eN > 0 {
		b.ReportMetric(float64(s.e2e.Microseconds())/1000/float64(s.e2eN), "ms/req")
	}
}

// createReplicatedTopic makes a fresh topic with rf replicas (and
// min.insync.replicas=2 when replicated) and waits until every node says
// every partition has a leader and its whole ISR.
func createReplicatedTopic(b *testing.B, t *target, parts int, rf int16) string {
	b.Helper()
	topicSeq.mu.Lock()
	topicSeq.n++
	name := fmt.Sprintf("replicated-%d-%d", os.Getpid(), topicSeq.n)
	topicSeq.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	configs := map[string]*string{}
	if rf > 1 {
		configs["min.insync.replicas"] = kadm.StringPtr("2")
	}
	resp, err := t.admin.CreateTopic(ctx, int32(parts), rf, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.fail(b, "create topic %s: %v", name, err)
	}
	for {
		var md kadm.Metadata
		md, err = t.admin.Metadata(ctx, name)
		if err == nil {
			var ready bool
			if ready, err = readyEverywhere(ctx, md.Brokers.NodeIDs(), name, parts, rf); ready {
				return name
			}
		}
		if ctx.Err() != nil {
			t.fail(b, "topic %s not fully replicated after 30s (last error %v)", name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readyEverywhere says whether every node answers Metadata for topic with
// all its partitions led and their whole ISR. One node's answer is not
// enough: a node that applied the topic's creation a few milliseconds later
// answers a producer that asks it with UNKNOWN_TOPIC_OR_PARTITION, and
// franz-go then waits out its metadata min age (5 s) inside the timed
// window, which then measures metadata propagation, not replication.
func readyEverywhere(ctx context.Context, nodes []int32, topic string, parts int, rf int16) (bool, error) {
	if len(nodes) == 0 {
		return false, nil
	}
	for _, id := range nodes {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, clusterClient.Broker(int(id)))
		if err != nil {
			return false, err
		}
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != parts {
			return false, nil
		}
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 || len(p.ISR) != int(rf) {
				return false, nil
			}
		}
	}
	return true, nil
}

// dropTopics deletes topics and waits until the brokers removed their
// files (awaitTopicDataRemoved), so the next iteration does not pay for it.
func dropTopics(b *testing.B, t *target, topics ...string) {
	b.Helper()
	for _, topic := range topics {
		t.deleteTopic(b, topic)
	}
	for _, topic := range topics {
		awaitTopicDataRemoved(b, t, topic)
	}
}

// awaitTopicDataRemoved waits until no node's log directory holds a
// partition directory of the deleted topic name any more. The brokers
// remove a deleted topic's files after the deletion is answered; without
// the wait, removing one iteration's files (three copies at replication
// factor 3, one at 1) counts in the next iteration's CPU per record.
func awaitTopicDataRemoved(b *testing.B, t *target, name string) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		left := ""
		for i := range 3 {
			entries, err := os.ReadDir(filepath.Join(clusterDir, fmt.Sprintf("node-%d", i+1), "data"))
			if err != nil && !os.IsNotExist(err) {
				t.fail(b, "read node %d's log directory: %v", i+1, err)
			}
			for _, e := range entries {
				if strings.HasPrefix(e.Name(), name+"-") {
					left = e.Name()
				}
			}
		}
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.fail(b, "deleted topic %s: %s still on disk after 60 s", name, left)
		}
		time.Sleep(10 * time.Millisecond) // poll
	}
}
