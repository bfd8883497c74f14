package benchmarks

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The group benchmarks run against brokers of their own, set up for group
// work alike: gregor with group.initial.rebalance.delay.ms=0 (kfake has no
// initial delay) and, on both, a KIP-848 heartbeat interval of
// groupHeartbeat; classic members heartbeat at the same interval.
const (
	groupHeartbeat  = 50 * time.Millisecond
	groupMembers    = 10
	groupPartitions = 20
	rebalanceRounds = 20
)

var (
	groupGregorOnce sync.Once
	groupGregor     *target
	groupGregorErr  error

	groupKfakeOnce    sync.Once
	groupKfake        *target
	groupKfakeErr     error
	groupKfakeCluster *kfake.Cluster
)

func groupGregorBroker(b *testing.B) *target {
	b.Helper()
	groupGregorOnce.Do(func() {
		dir, err := tempDir()
		if err != nil {
			groupGregorErr = err
			return
		}
		bin, err := gregorBinary(dir)
		if err != nil {
			groupGregorErr = err
			return
		}
		addr, err := freeAddr()
		if err != nil {
			groupGregorErr = err
			return
		}
		groupGregor, groupGregorErr = startProcess("gregor", addr, bin, withBenchSet([]string{"serve",
			"--set", "listeners=PLAINTEXT://" + addr,
			"--set", "log.dirs=" + filepath.Join(dir, "group-data"),
			"--set", "metrics.listener=",
			"--set", "node.id=1",
			"--set", "group.initial.rebalance.delay.ms=0",
			"--set", fmt.Sprint("group.consumer.heartbeat.interval.ms=", groupHeartbeat.Milliseconds())})...)
	})
	if groupGregorErr != nil {
		b.Fatal(groupGregorErr)
	}
	if err := groupGregor.alive(); err != nil {
		b.Fatal(err)
	}
	return groupGregor
}

func groupKfakeBroker(b *testing.B) *target {
	b.Helper()
	groupKfakeOnce.Do(func() {
		groupKfakeCluster, groupKfakeErr = kfake.NewCluster(kfake.NumBrokers(1),
			kfake.BrokerConfigs(map[string]string{"group.consumer.heartbeat.interval.ms": fmt.Sprint(groupHeartbeat.Milliseconds())}))
		if groupKfakeErr != nil {
			return
		}
		addr := groupKfakeCluster.ListenAddrs()[0]
		groupKfake = &target{name: "ref-kfake", addr: addr}
		groupKfake.admin, groupKfakeErr = newAdmin(addr)
	})
	if groupKfakeErr != nil {
		b.Fatal(groupKfakeErr)
	}
	return groupKfake
}

// BenchmarkGroupRebalance: a group of ten members over 20 partitions; one
// round is an eleventh member joining, timed until every member holds a
// share and every partition is held once, as the members' own
// assigned/revoked callbacks tell (then it leaves, untimed). Reports p50-ms
// and p99-ms over the rounds (20 per iteration) and their mean as ns/op.
//
//	BenchmarkGroupRebalance/{eager,cooperative,kip848}/{gregor,ref-kfake}
func BenchmarkGroupRebalance(b *testing.B) {
	for _, proto := range []string{"eager", "cooperative", "kip848"} {
		b.Run(proto+"/gregor", func(b *testing.B) { benchRebalance(b, groupGregorBroker(b), proto) })
		b.Run(proto+"/ref-kfake", func(b *testing.B) { benchRebalance(b, groupKfakeBroker(b), proto) })
	}
}

// ownership is what the members of a group hold, from their callbacks.
type ownership struct {
	mu   sync.Mutex
	held map[string]map[int32]bool // member → partitions
}

func (o *ownership) set(member string, parts []int32, add bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.held[member] == nil {
		o.held[member] = map[int32]bool{}
	}
	for _, p := range parts {
		if add {
			o.held[member][p] = true
		} else {
			delete(o.held[member], p)
		}
	}
}

func (o *ownership) drop(member string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.held, member)
}

// stable says whether members members each hold a partition and every
// partition is held exactly once.
func (o *ownership) stable(members, partitions int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	holders, total := 0, 0
	seen := map[int32]bool{}
	for _, ps := range o.held {
		if len(ps) > 0 {
			holders++
		}
		for p := range ps {
			if seen[p] {
				return false
			}
			seen[p] = true
			total++
		}
	}
	return holders == members && total == partitions
}

// benchMember is one polling member of the benchmark's group.
type benchMember struct {
	cl   *kgo.Client
	stop chan struct{}
	done chan struct{}
}

func startBenchMember(b *testing.B, t *target, proto, topic, group, name string, own *ownership) *benchMember {
	opts := []kgo.Opt{kgo.SeedBrokers(t.addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ClientID(name),
		kgo.HeartbeatInterval(groupHeartbeat), kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { own.set(name, m[topic], true) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { own.set(name, m[topic], false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { own.set(name, m[topic], false) }),
	}
	switch proto {
	case "eager":
		opts = append(opts, kgo.Balancers(kgo.RangeBalancer()))
	case "cooperative":
		opts = append(opts, kgo.Balancers(kgo.CooperativeStickyBalancer()))
	case "kip848":
		opts = append(opts, kgo.ServerSideBalancer())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		b.Fatal(err)
	}
	m := &benchMember{cl: cl, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			select {
			case <-m.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			cl.PollFetches(ctx)
			cancel()
		}
	}()
	return m
}

func (m *benchMember) close() {
	close(m.stop)
	<-m.done
	m.cl.Close()
}

func waitStable(b *testing.B, t *target, own *ownership, members int) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !own.stable(members, groupPartitions) {
		if time.Now().After(deadline) {
			own.mu.Lock()
			held := fmt.Sprint(own.held)
			own.mu.Unlock()
			t.fail(b, "%s: group not stable with %d members after 60s: %s", t.name, members, held)
		}
		time.Sleep(time.Millisecond)
	}
}

func benchRebalance(b *testing.B, t *target, proto string) {
	b.StopTimer()
	b.ResetTimer()
	var all []time.Duration
	for i := 0; i < b.N; i++ {
		topic := t.createTopic(b, "rebalance", groupPartitions)
		group := strings.Replace(topic, "rebalance", "rebalance-"+proto, 1)
		own := &ownership{held: map[string]map[int32]bool{}}
		var members []*benchMember
		for m := 0; m < groupMembers; m++ {
			members = append(members, startBenchMember(b, t, proto, topic, group, fmt.Sprint("m", m), own))
		}
		waitStable(b, t, own, groupMembers)
		for r := 0; r < rebalanceRounds; r++ {
			name := fmt.Sprint("joiner", r)
			start := time.Now()
			b.StartTimer() // the timer runs only during the joins, so b.N stays small
			joiner := startBenchMember(b, t, proto, topic, group, name, own)
			waitStable(b, t, own, groupMembers+1)
			b.StopTimer()
			all = append(all, time.Since(start))
			joiner.close()
			own.drop(name)
			waitStable(b, t, own, groupMembers)
		}
		for _, m := range members {
			m.close()
		}
		t.deleteTopic(b, topic)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1e3
	}
	var sum time.Duration
	for _, d := range all {
		sum += d
	}
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(all)), "ns/op")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// BenchmarkOffsetCommit: four committers, each committing offsets of ten
// partitions to a group of its own (outside group management), one after
// another; an op is one commit. Reports commits/s, a commit's p50-us and
// p99-us as its committer saw it and, for a broker in a process of its
// own, ns-cpu/commit (the broker's CPU time per commit) and
// switches/commit (its threads' context switches per commit). ref-kfake-process
// is kfake in a process of its own, behind the same process boundary as
// gregor and with its CPU measured alike.
//
//	BenchmarkOffsetCommit/parts=10/{gregor,ref-kfake,ref-kfake-process}
func BenchmarkOffsetCommit(b *testing.B) {
	b.Run("parts=10/gregor", func(b *testing.B) { benchOffsetCommit(b, groupGregorBroker(b)) })
	b.Run("parts=10/ref-kfake", func(b *testing.B) { benchOffsetCommit(b, groupKfakeBroker(b)) })
	b.Run("parts=10/ref-kfake-process", func(b *testing.B) { benchOffsetCommit(b, kfakeProcessBroker(b)) })
}

func benchOffsetCommit(b *testing.B, t *target) {
	const committers, parts = 4, 10
	b.StopTimer()
	topic := t.createTopic(b, "commits", parts)
	var clients []*kadm.Client
	for i := 0; i < committers; i++ {
		cl, err := kgo.NewClient(kgo.SeedBrokers(t.addr))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		clients = append(clients, kadm.NewClient(cl))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	took := make([][]time.Duration, committers)
	commit := func(adm *kadm.Client, group string, at int64) {
		offsets := kadm.Offsets{}
		for p := int32(0); p < parts; p++ {
			offsets.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
		}
		res, err := adm.CommitOffsets(ctx, group, offsets)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.fail(b, "%s: commit: %v", t.name, err)
		}
	}
	for i, adm := range clients {
		commit(adm, fmt.Sprint(topic, "-committer-", i), 0) // finds the coordinator, outside the timer
	}
	b.ResetTimer()
	stopPerf := startPerf(b, t)
	cpu0, switches0 := t.cpu(b), contextSwitches(t.processes())
	b.StartTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, adm := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			group := fmt.Sprint(topic, "-committer-", i)
			for n := i; n < b.N; n += committers {
				at := time.Now()
				commit(adm, group, int64(n))
				took[i] = append(took[i], time.Since(at))
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	elapsed := time.Since(start)
	cpu, switches := t.cpu(b)-cpu0, contextSwitches(t.processes())-switches0
	stopPerf()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
	all := slices.Concat(took...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[min(len(all)-1, int(p*float64(len(all))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.5), "p50-us")
	b.ReportMetric(pct(0.99), "p99-us")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "ns-cpu/commit")
		b.ReportMetric(float64(switches)/float64(b.N), "switches/commit")
	}
	t.deleteTopic(b, topic)
}
