package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"gregor/groups"
	"gregor/txn"
)

// The settings of the exactly-once cluster: internal topics replicated on
// every node with min.insync.replicas=2 (the broker default, which
// __consumer_offsets takes), few internal partitions, groups that rebalance
// at once.
var eosClusterSettings = []string{
	"min.insync.replicas=2",
	"offsets.topic.replication.factor=3",
	"offsets.topic.num.partitions=" + strconv.Itoa(eosStatePartitions),
	"transaction.state.log.replication.factor=3",
	"transaction.state.log.min.isr=2",
	"transaction.state.log.num.partitions=" + strconv.Itoa(eosStatePartitions),
	"group.initial.rebalance.delay.ms=0",
}

// eosStatePartitions is the partition count of __transaction_state and
// __consumer_offsets in the test.
const eosStatePartitions = 6

// eosPartitions is the partition count of the chain's topics.
const eosPartitions = 3

// eosCoordinatorKills is how many times the transaction coordinator's node
// is killed.
const eosCoordinatorKills = 2

// eosStage is one stage of the chain: a consumer group of
// GroupTransactSession members reading one topic (read_committed) and
// writing each record to the same partition of the next, offsets committed
// in the transaction.
type eosStage struct {
	t        *testing.T
	c        *localCluster
	group    string
	from, to string
	// txnPartition is the __transaction_state partition every member's
	// transactional id hashes to: one node coordinates all the chain's
	// transactions.
	txnPartition int32
	errs         chan<- error
	// clientLog is what the members' clients log, shown when the test
	// fails.
	clientLog *lockedBuffer

	mu       sync.Mutex
	members  []*eosMember
	nextID   int
	commits  atomic.Int64
	attempts atomic.Int64
	// restarts counts the sessions started again after a client error
	// during a failover.
	restarts atomic.Int64
}

// eosMember is one running member.
type eosMember struct {
	txnID      string
	stop, done chan struct{}
}

// eosTxnID is a transactional id for member n of group that hashes to the
// __transaction_state partition p.
func eosTxnID(group string, n int, p int32) string {
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d-%d", group, n, i)
		if txn.PartitionFor(id, eosStatePartitions) == p {
			return id
		}
	}
}

// join starts a member.
func (s *eosStage) join(ctx context.Context) {
	s.mu.Lock()
	n := s.nextID
	s.nextID++
	s.mu.Unlock()
	m := &eosMember{txnID: eosTxnID(s.group, n, s.txnPartition), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			err := s.run(ctx, m)
			switch {
			case err == nil || ctx.Err() != nil:
				return
			case !clientFailoverError(err):
				s.errs <- fmt.Errorf("%s: %w", m.txnID, err)
				return
			}
			// The client gave up during the failover: the member starts
			// a new session with the same transactional id, which fences
			// the old one and ends its transaction (Kafka Streams' way).
			s.restarts.Add(1)
			s.t.Logf("%s: a new session after: %v", m.txnID, err)
		}
	}()
	s.mu.Lock()
	s.members = append(s.members, m)
	s.mu.Unlock()
}

// clientFailoverError says err is franz-go giving up while a coordinator
// or leader moves: a dial refused by the killed node, or a coordinator
// named by one broker's image while the client's metadata, from a broker
// that applied the fencing already, lists no such broker. The client
// turns either into a fatal error (AddPartitionsToTxn, TxnOffsetCommit);
// any other error fails the test.
func clientFailoverError(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unable to dial") || strings.Contains(msg, "unknown broker")
}

// run is one session of a member: poll, copy, commit, until stopped (nil)
// or an error.
func (s *eosStage) run(ctx context.Context, m *eosMember) error {
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(s.c.bootstrap()...),
		kgo.TransactionalID(m.txnID), kgo.TransactionTimeout(20*time.Second),
		kgo.ConsumerGroup(s.group), kgo.ConsumeTopics(s.from), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.HeartbeatInterval(250*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MetadataMinAge(250*time.Millisecond),
		kgo.WithLogger(kgo.BasicLogger(s.clientLog, kgo.LogLevelInfo, func() string {
			return time.Now().Format("15:04:05.000 ") + m.txnID + " "
		})))
	if err != nil {
		return err
	}
	defer sess.Close()
	for {
		select {
		case <-m.stop:
			return nil
		default:
		}
		pollCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := sess.PollFetches(pollCtx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		var produceErr atomic.Pointer[error]
		fs.EachRecord(func(r *kgo.Record) {
			sess.Produce(ctx, &kgo.Record{Topic: s.to, Partition: r.Partition, Value: r.Value}, func(_ *kgo.Record, err error) {
				if err != nil && !errors.Is(err, kgo.ErrAborting) {
					produceErr.CompareAndSwap(nil, &err)
				}
			})
		})
		s.attempts.Add(1)
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			return fmt.Errorf("end: %w", err)
		}
		if p := produceErr.Load(); p != nil {
			if committed {
				return fmt.Errorf("committed a transaction whose produce to %s failed: %w", s.to, *p)
			}
			return fmt.Errorf("produce to %s: %w", s.to, *p)
		}
		if committed && !fs.Empty() {
			s.commits.Add(1)
		}
	}
}

// leave stops the oldest member (its session leaves the group).
func (s *eosStage) leave() {
	s.mu.Lock()
	m := s.members[0]
	s.members = s.members[1:]
	s.mu.Unlock()
	close(m.stop)
	<-m.done
}

func (s *eosStage) closeAll() {
	for {
		s.mu.Lock()
		n := len(s.members)
		s.mu.Unlock()
		if n == 0 {
			return
		}
		s.leave()
	}
}

// txnIDs are the running members' transactional ids.
func (s *eosStage) txnIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.members {
		out = append(out, m.txnID)
	}
	return out
}

// txnCoordinator is the node FindCoordinator (key type 1) names for the
// transactional id, asked through node via; -1 when it names none.
func (c *localCluster) txnCoordinator(via int, txnID string) int {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addr(via)))
	if err != nil {
		return -1
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, ok := kadm.NewClient(cl).FindTxnCoordinators(ctx, txnID)[txnID]
	if !ok || resp.Err != nil {
		return -1
	}
	return int(resp.NodeID)
}

// waitFullISR waits until node observer's metadata shows every replica of
// every partition of topics in the ISR, with a leader.
func (c *localCluster) waitFullISR(t *testing.T, observer int, timeout time.Duration, topics ...string) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("every replica of %v in the ISR", topics), func() bool {
		md, err := c.metadata(observer, topics...)
		if err != nil || len(md.Topics) != len(topics) {
			return false
		}
		for _, tp := range md.Topics {
			if tp.ErrorCode != 0 || len(tp.Partitions) == 0 {
				return false
			}
			for _, p := range tp.Partitions {
				if p.Leader < 1 || len(p.ISR) != c.nodes {
					return false
				}
			}
		}
		return true
	})
}

// readCommitted reads topic from the start with read_committed until it
// holds want records per partition, then a little longer to catch any
// record past them.
func readCommitted(ctx context.Context, t *testing.T, c *localCluster, topic string, want map[int32]int) map[int32][]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[int32][]string{}
	done := func() bool {
		for p, n := range want {
			if len(got[p]) < n {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			counts := map[int32]int{}
			for p, vs := range got {
				counts[p] = len(vs)
			}
			t.Fatalf("%s: read %v committed records of %v", topic, counts, want)
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], string(r.Value)) })
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	cl.PollFetches(short).EachRecord(func(r *kgo.Record) { got[r.Partition] = append(got[r.Partition], string(r.Value)) })
	return got
}

// The exactly-once test on real processes: three nodes, the chain's
// topics and both internal topics replicated on all three with
// min.insync.replicas=2. An idempotent producer writes numbered records to
// eos-in; stage a (a GroupTransactSession group) copies eos-in to eos-mid
// and stage b copies eos-mid to eos-out, each committing its offsets in its
// transactions, while members join and leave both stages. Every member's
// transactional id hashes to one __transaction_state partition, and the
// node FindCoordinator names for them is killed with SIGKILL mid-run, then
// restarted, eosCoordinatorKills times; the partitions the victim led move
// with open transactions on them. A member whose client gives up during a
// failover (clientFailoverError) starts a new session with its
// transactional id, which the new coordinator fences; any other error
// fails the test. Afterwards a read_committed consumer finds eos-mid and
// eos-out equal to eos-in: every record once, in order per partition; and
// stage a's committed offsets are at eos-in's end.
func TestClusterExactlyOnceCoordinatorKilled(t *testing.T) {
	start := time.Now()
	c := clusterUp(t, 3, eosClusterSettings...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	topics := []string{"eos-in", "eos-mid", "eos-out"}
	c.createTopics(t, eosPartitions, topics...)

	// The input: numbered records to every partition, a few at a time,
	// until stopped.
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(250*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	stopInput := make(chan struct{})
	inputDone := make(chan error, 1)
	var produced atomic.Int64
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stopInput:
				inputDone <- nil
				return
			case <-time.After(20 * time.Millisecond):
			}
			var rs []*kgo.Record
			for p := range int32(eosPartitions) {
				for j := range 3 {
					rs = append(rs, &kgo.Record{Topic: "eos-in", Partition: p, Value: fmt.Appendf(nil, "%d-%05d", p, 3*i+j)})
				}
			}
			if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				inputDone <- fmt.Errorf("input: %w", err)
				return
			}
			produced.Add(int64(len(rs)))
		}
	}()

	errs := make(chan error, 64)
	txnPartition := int32(0)
	clientLog := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			var warnings []string
			for _, line := range strings.Split(clientLog.String(), "\n") {
				if strings.Contains(line, "[WARN]") || strings.Contains(line, "[ERROR]") {
					warnings = append(warnings, line)
				}
			}
			t.Logf("the members' clients warned:\n%s\nand logged last:\n%s", strings.Join(warnings, "\n"), tail(clientLog.String(), 100))
		}
	})
	a := &eosStage{t: t, c: c, group: "eos-a", from: "eos-in", to: "eos-mid", txnPartition: txnPartition, errs: errs, clientLog: clientLog}
	b := &eosStage{t: t, c: c, group: "eos-b", from: "eos-mid", to: "eos-out", txnPartition: txnPartition, errs: errs, clientLog: clientLog}
	defer a.closeAll()
	defer b.closeAll()
	for range 2 {
		a.join(ctx)
		b.join(ctx)
	}
	checkErrs := func() {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
	}
	// progress waits until both stages committed more transactions with
	// records.
	progress := func(what string, n int64) {
		ta, tb := a.commits.Load(), b.commits.Load()
		waitFor(t, 30*time.Second, what, func() bool {
			checkErrs()
			return a.commits.Load() >= ta+n && b.commits.Load() >= tb+n
		})
	}
	progress("transactions committed in both stages", 5)

	for kill := range eosCoordinatorKills {
		victim := c.txnCoordinator(1+kill%3, a.txnIDs()[0])
		if victim < 1 {
			t.Fatalf("no transaction coordinator for %s", a.txnIDs()[0])
		}
		for _, id := range append(a.txnIDs(), b.txnIDs()...) {
			if n := c.txnCoordinator(victim%3+1, id); n != victim {
				t.Fatalf("%s is coordinated by node %d, not %d", id, n, victim)
			}
		}
		killed := time.Now()
		if err := syscall.Kill(c.pid(victim), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		survivor := victim%3 + 1
		var moved int
		waitFor(t, 30*time.Second, "a new transaction coordinator", func() bool {
			moved = c.txnCoordinator(survivor, a.txnIDs()[0])
			return moved > 0 && moved != victim
		})
		t.Logf("kill %d: node %d (coordinating the chain's transactions) killed; node %d coordinates them after %v",
			kill, victim, moved, time.Since(killed).Round(time.Millisecond))
		// A member joins each stage and the oldest leaves while the
		// victim is down.
		a.join(ctx)
		b.join(ctx)
		progress("transactions committed in both stages after the kill", 3)
		t.Logf("kill %d: both stages committed again %v after the kill", kill, time.Since(killed).Round(time.Millisecond))
		a.leave()
		b.leave()
		c.restart(victim)
		c.waitFullISR(t, survivor, 30*time.Second, append(topics, txn.StateTopic, groups.OffsetsTopic)...)
		progress("transactions committed in both stages after the restart", 3)
	}
	close(stopInput)
	if err := <-inputDone; err != nil {
		t.Fatal(err)
	}
	want := map[int32]int{}
	for p := range int32(eosPartitions) {
		want[p] = int(produced.Load()) / eosPartitions
	}
	in := readCommitted(ctx, t, c, "eos-in", want)
	for p, n := range want {
		for i, v := range in[p] {
			if w := fmt.Sprintf("%d-%05d", p, i); v != w || i >= n {
				t.Fatalf("eos-in partition %d holds %q at %d, want %q (of %d)", p, v, i, w, n)
			}
		}
	}
	mid := readCommitted(ctx, t, c, "eos-mid", want)
	out := readCommitted(ctx, t, c, "eos-out", want)
	checkErrs()
	for _, got := range []struct {
		topic   string
		records map[int32][]string
	}{{"eos-mid", mid}, {"eos-out", out}} {
		for p := range int32(eosPartitions) {
			if !slices.Equal(got.records[p], in[p]) {
				t.Errorf("%s partition %d: %d records, not eos-in's %d once in order; first difference at %d",
					got.topic, p, len(got.records[p]), len(in[p]), firstDifference(got.records[p], in[p]))
			}
		}
	}
	// Stage a's offsets, committed in its transactions, end at eos-in's
	// end once its markers reached __consumer_offsets.
	adm := c.admin(t)
	waitFor(t, 15*time.Second, "eos-a's offsets at eos-in's end", func() bool {
		offsets, err := adm.FetchOffsets(ctx, "eos-a")
		if err != nil {
			return false
		}
		for p := range int32(eosPartitions) {
			if o, ok := offsets.Lookup("eos-in", p); !ok || o.At != int64(len(in[p])) {
				return false
			}
		}
		return true
	})
	t.Logf("%d records through both stages; transactions committed with records: %d and %d (of %d and %d); sessions started again after a client error: %d; %v in all",
		produced.Load(), a.commits.Load(), b.commits.Load(), a.attempts.Load(), b.attempts.Load(), a.restarts.Load()+b.restarts.Load(), time.Since(start).Round(time.Millisecond))
}

// firstDifference is the first index where a and b differ.
func firstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
