package quorum

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore/raftlog"
	"gregor/logstore/vfs"
)

// A deterministic in-memory cluster of quorum cores for tests: one
// goroutine steps every node's core and its durable log (raftlog on its own
// vfs.Mem, which loses unsynced writes on a crash) over a seeded network
// that delays, drops and partitions messages. Shells in production do what
// the per-node loop here does with each Ready.
//
// It checks, after every Ready of every node: at most one leader per term
// (S1); a node's term never goes back, across restarts too; a committed
// entry never changes (S2/S9): every node applies, at each offset, the same
// entry, and has the same history up to it (a running hash); offsets only
// grow; a proposal reported committed is the entry committed at its offset.

const (
	stepMs      = 10
	wallStartMs = 1_700_000_000_000
)

type clusterOptions struct {
	voters, learners []int32
	seed             uint64
	// minDelayMs..maxDelayMs is a message's delay; dropPercent of messages
	// are lost.
	minDelayMs, maxDelayMs int64
	dropPercent            int
	snapshotEntries        uint64
	// crashInReadyPermille is the chance a node crashes while carrying out
	// a Ready, after sending its messages and before applying and
	// advancing; diskCrashPermille the chance, per Ready, that its disk is
	// set to fail within the next few operations (the node crashes when
	// its log reports it).
	crashInReadyPermille, diskCrashPermille int
	// plantSendBeforePersist breaks the shell's first rule: it sends a
	// Ready's messages before saving it (and may crash in between), so a
	// test can show the checks catch a node that forgets what it promised.
	plantSendBeforePersist bool
	logger                 *zap.Logger
}

type testCluster struct {
	t    testing.TB
	opts clusterOptions
	rng  *rand.Rand
	now  int64

	nodes []*testNode
	net   testNetwork

	// trace is every event, for the determinism check; out collects the
	// events a script shows.
	trace  *sha256Trace
	out    []string
	nextID int

	stats clusterStats

	leaderOfTerm map[uint64]int32
	// holds is, per term, the latest time (the cluster's clock) until
	// which its leader said no other node could lead.
	holds    map[uint64]int64
	entryAt  map[int64]string
	hashAt   map[int64]uint64
	proposed map[string]bool
}

type testNode struct {
	id    int32
	voter bool
	fs    *vfs.Mem
	log   *raftlog.Log
	q     *Quorum
	up    bool
	// monoOffset makes each node's monotonic clock start elsewhere.
	monoOffset int64

	// The applied state: the offset last applied, and the count and hash
	// of the batches applied, up to lastData.
	applied, lastData int64
	count             int
	hash              uint64

	// campaignWhenSilent makes the node campaign at its first tick after
	// its leader's silence lasted an election timeout (the script's
	// campaign).
	campaignWhenSilent bool
	// paused says the node's process stands still (the script's pause):
	// it neither ticks nor steps; what arrives meanwhile waits in backlog,
	// which it steps on resuming, before its overdue ticks.
	paused  bool
	backlog []inflightMessage

	maxTerm    uint64
	leadership Leadership
	membership Membership
	pending    map[ProposalID]string
}

// clusterStats count what a run went through, so a test can demand its
// runs reach what they mean to test.
type clusterStats struct {
	crashes, partitions, snapshotsSent, snapshotsInstalled, snapshotsTaken int
	proposalsLost, terms                                                   int
	// holds counts the leaders' holds noted, holdsChecked the earlier
	// terms' holds a new leader was checked against.
	holds, holdsChecked int
}

type sha256Trace struct {
	lines int
	sum   [32]byte
}

func (s *sha256Trace) add(line string) {
	s.lines++
	s.sum = sha256.Sum256(append(s.sum[:], line...))
}

func newTestCluster(t testing.TB, opts clusterOptions) *testCluster {
	if opts.maxDelayMs == 0 {
		opts.minDelayMs, opts.maxDelayMs = 1, 5
	}
	if opts.logger == nil {
		opts.logger = zap.NewNop()
	}
	c := &testCluster{
		t: t, opts: opts,
		rng:          rand.New(rand.NewPCG(opts.seed, 0x5eed)),
		trace:        &sha256Trace{},
		leaderOfTerm: map[uint64]int32{},
		entryAt:      map[int64]string{},
		hashAt:       map[int64]uint64{},
		proposed:     map[string]bool{},
		net:          testNetwork{cut: map[[2]int32]bool{}},
	}
	ids := append(slices.Clone(opts.voters), opts.learners...)
	slices.Sort(ids)
	for _, id := range ids {
		n := &testNode{id: id, voter: slices.Contains(opts.voters, id), fs: vfs.NewMem(vfs.WithTornWrites(opts.seed + uint64(id))), monoOffset: int64(id) * 7919}
		c.nodes = append(c.nodes, n)
		c.start(n)
	}
	return c
}

func (c *testCluster) node(id int32) *testNode {
	for _, n := range c.nodes {
		if n.id == id {
			return n
		}
	}
	c.t.Fatalf("no node %d", id)
	return nil
}

// note records an event a script shows; detail one only the trace holds.
func (c *testCluster) note(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	c.trace.add(fmt.Sprintf("%d %s", c.now, line))
	c.out = append(c.out, line)
}

func (c *testCluster) detail(format string, args ...any) {
	c.trace.add(fmt.Sprintf("%d %s", c.now, fmt.Sprintf(format, args...)))
}

func (c *testCluster) config(n *testNode) Config {
	return Config{
		NodeID:                  n.id,
		Voters:                  c.opts.voters,
		ElectionTimeoutMs:       500,
		HeartbeatIntervalMs:     50,
		TickMs:                  50,
		SnapshotIntervalEntries: c.opts.snapshotEntries,
		SnapshotCatchUpEntries:  5,
		Logger:                  c.opts.logger.With(zap.Int32("node", n.id)),
	}
}

// start opens a node's durable log and starts its core from it.
func (c *testCluster) start(n *testNode) {
	log, st, err := raftlog.Open(n.fs, "data/"+raftlog.DirName, c.opts.logger)
	if err != nil {
		c.t.Fatalf("n%d: open log: %v", n.id, err)
	}
	q, err := New(c.config(n), st)
	if err != nil {
		c.t.Fatalf("n%d: start: %v", n.id, err)
	}
	n.log, n.q, n.up = log, q, true
	n.applied, n.lastData, n.count, n.hash = 0, 0, 0, 0
	n.leadership, n.membership = Leadership{LeaderID: -1}, Membership{}
	n.pending = map[ProposalID]string{}
	n.q.Tick(c.instant(n))
	c.handleReadies(n)
}

func (c *testCluster) instant(n *testNode) cluster.Instant {
	return cluster.Instant{WallMs: wallStartMs + c.now, MonoMs: c.now + n.monoOffset}
}

// crash stops a node as a power loss does: the disk keeps what was synced.
func (c *testCluster) crash(n *testNode) {
	if !n.up {
		return
	}
	_ = n.log.Close()
	n.fs.Crash()
	n.up, n.q, n.log = false, nil, nil
	n.paused, n.backlog = false, nil
	c.stats.crashes++
	c.note("n%d: crashed", n.id)
}

func (c *testCluster) restart(n *testNode) {
	if n.up {
		return
	}
	c.note("n%d: restarted", n.id)
	c.start(n)
}

// run advances the cluster by ms of simulated time.
func (c *testCluster) run(ms int64) {
	for end := c.now + ms; c.now < end; {
		c.step()
	}
}

// runUntil steps until cond holds, at most ms of simulated time.
func (c *testCluster) runUntil(ms int64, what string, cond func() bool) {
	for end := c.now + ms; !cond(); {
		if c.now >= end {
			c.stuck("after %d ms: still not %s\n%s", ms, what, c.status())
		}
		c.step()
	}
}

func (c *testCluster) step() {
	c.now += stepMs
	c.deliver()
	for _, n := range c.nodes {
		if n.up && !n.paused {
			n.q.Tick(c.instant(n))
			c.campaignIfSilent(n)
			c.handleReadies(n)
		}
	}
}

// campaignIfSilent carries out a script's campaign: a node told to campaign
// does, as a follower, once raft's shortest election timeout passed since
// it heard from its leader (as raft counts it), or gives the order up once
// it is no follower with a leader any more.
func (c *testCluster) campaignIfSilent(n *testNode) {
	if !n.campaignWhenSilent {
		return
	}
	st := n.q.rn.BasicStatus()
	if st.RaftState != raft.StateFollower || st.Lead == raft.None {
		n.campaignWhenSilent = false
		return
	}
	if n.q.silence.ticks >= n.q.cfg.electionTicks() {
		n.campaignWhenSilent = false
		if err := n.q.rn.Campaign(); err != nil {
			c.t.Fatalf("n%d campaigns: %v", n.id, err)
		}
	}
}

// handleReadies is the shell: it carries out each Ready of a node.
func (c *testCluster) handleReadies(n *testNode) {
	for i := 0; n.up && n.q.HasReady(); i++ {
		if i > 100 {
			c.t.Fatalf("n%d: Ready does not settle", n.id)
		}
		if c.opts.diskCrashPermille > 0 && c.rng.IntN(1000) < c.opts.diskCrashPermille {
			n.fs.CrashAfterOps(int64(c.rng.IntN(8)))
		}
		rd := n.q.Ready()
		for _, env := range rd.SendFirst {
			c.send(n, env)
		}
		if c.opts.crashInReadyPermille > 0 && c.rng.IntN(1000) < c.opts.crashInReadyPermille {
			// Requests out, nothing written yet.
			c.crash(n)
			return
		}
		if c.opts.plantSendBeforePersist {
			for _, env := range rd.Messages {
				c.send(n, env)
			}
			rd.Messages = nil
			if c.rng.IntN(100) < 5 {
				c.crash(n)
				return
			}
		}
		if err := n.log.Save(rd.Persist); err != nil {
			if errors.Is(err, vfs.ErrCrashed) {
				c.crash(n)
				return
			}
			c.t.Fatalf("n%d: persist: %v", n.id, err)
		}
		if idx := rd.Persist.Snapshot.GetMetadata().GetIndex(); idx > 1 {
			c.stats.snapshotsInstalled++
			c.note("n%d: installed the leader's snapshot at %d", n.id, idx)
		}
		for _, env := range rd.Messages {
			c.send(n, env)
		}
		if c.opts.crashInReadyPermille > 0 && c.rng.IntN(1000) < c.opts.crashInReadyPermille {
			c.crash(n)
			return
		}
		if rd.Snapshot != nil {
			c.applySnapshot(n, rd.Snapshot)
		}
		for _, b := range rd.Committed {
			c.applyBatch(n, b)
		}
		if m := rd.Membership; m != nil {
			n.membership = *m
			c.note("n%d: voters %v learners %v", n.id, m.Voters, m.Learners)
		}
		for _, p := range rd.Proposals {
			c.settle(n, p)
		}
		if l := rd.Leadership; l != nil {
			c.leadershipChanged(n, *l)
		}
		n.q.Advance()
		c.noteHold(n)
		// Entries without a batch (elections, membership) count too.
		n.applied = n.q.AppliedOffset()
		if rd.SnapshotDue {
			c.takeSnapshot(n)
		}
		n.fs.CrashAfterOps(-1)
	}
}

func (c *testCluster) takeSnapshot(n *testNode) {
	data := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Snapshot: true, Records: []cluster.MetadataRecord{
		cluster.TopicRecord{Name: fmt.Sprintf("state:%d:%d:%d", n.lastData, n.count, n.hash)},
	}})
	snap, err := n.q.Snapshot(data)
	if err != nil {
		c.t.Fatalf("n%d: snapshot: %v", n.id, err)
	}
	if err := n.log.Compact(snap); err != nil {
		if errors.Is(err, vfs.ErrCrashed) {
			c.crash(n)
			return
		}
		c.t.Fatalf("n%d: compact: %v", n.id, err)
	}
	c.stats.snapshotsTaken++
	c.detail("n%d: snapshot at %d", n.id, snap.GetMetadata().GetIndex())
}

func (c *testCluster) applySnapshot(n *testNode, s *SnapshotToApply) {
	n.applied, n.lastData, n.count, n.hash = s.Offset, 0, 0, 0
	if len(s.Batch.Records) > 0 {
		name := s.Batch.Records[0].(cluster.TopicRecord).Name
		parts := strings.Split(name, ":")
		if len(parts) != 4 || parts[0] != "state" {
			c.t.Fatalf("n%d: snapshot holds %q", n.id, name)
		}
		n.lastData, _ = strconv.ParseInt(parts[1], 10, 64)
		n.count, _ = strconv.Atoi(parts[2])
		n.hash, _ = strconv.ParseUint(parts[3], 10, 64)
	}
	if n.lastData > 0 {
		if h, ok := c.hashAt[n.lastData]; ok && h != n.hash {
			c.t.Fatalf("n%d: snapshot at %d has history %x at %d, others %x", n.id, s.Offset, n.hash, n.lastData, h)
		}
	}
	c.detail("n%d: snapshot at %d applied (%d batches)", n.id, s.Offset, n.count)
}

func (c *testCluster) applyBatch(n *testNode, b CommittedBatch) {
	if b.Offset <= n.applied {
		c.t.Fatalf("n%d: batch at offset %d after offset %d", n.id, b.Offset, n.applied)
	}
	name := b.Batch.Records[0].(cluster.TopicRecord).Name
	entry := fmt.Sprintf("%d:%s", b.Term, name)
	if prev, ok := c.entryAt[b.Offset]; ok && prev != entry {
		c.t.Fatalf("n%d: committed %s at offset %d, where %s was committed", n.id, entry, b.Offset, prev)
	}
	c.entryAt[b.Offset] = entry
	h := fnv.New64a()
	_ = binary.Write(h, binary.BigEndian, n.hash)
	h.Write([]byte(name))
	n.hash, n.count, n.lastData, n.applied = h.Sum64(), n.count+1, b.Offset, b.Offset
	if prev, ok := c.hashAt[b.Offset]; ok && prev != n.hash {
		c.t.Fatalf("n%d: history up to offset %d differs from another node's", n.id, b.Offset)
	}
	c.hashAt[b.Offset] = n.hash
	c.detail("n%d: applied %s at %d", n.id, entry, b.Offset)
}

func (c *testCluster) settle(n *testNode, p ProposalOutcome) {
	name, ok := n.pending[p.ID]
	if !ok {
		c.t.Fatalf("n%d: fate of unknown proposal %d", n.id, p.ID)
	}
	delete(n.pending, p.ID)
	if p.Fate == ProposalCommitted {
		if got := c.entryAt[p.Offset]; c.proposed[name] && !strings.HasSuffix(got, ":"+name) {
			c.t.Fatalf("n%d: %s reported committed at %d, which holds %q", n.id, name, p.Offset, got)
		}
		c.note("n%d: %s committed at %d", n.id, name, p.Offset)
		return
	}
	c.stats.proposalsLost++
	c.note("n%d: %s %s", n.id, name, p.Fate)
}

func (c *testCluster) leadershipChanged(n *testNode, l Leadership) {
	if l.LeaderEpoch < n.maxTerm {
		c.t.Fatalf("n%d: term went back from %d to %d", n.id, n.maxTerm, l.LeaderEpoch)
	}
	n.maxTerm = l.LeaderEpoch
	if l.LeaderID >= 0 {
		if prev, ok := c.leaderOfTerm[l.LeaderEpoch]; ok && prev != l.LeaderID {
			c.t.Fatalf("term %d has two leaders: %d and %d", l.LeaderEpoch, prev, l.LeaderID)
		}
		if _, ok := c.leaderOfTerm[l.LeaderEpoch]; !ok {
			c.stats.terms++
			c.checkHolds(l)
		}
		c.leaderOfTerm[l.LeaderEpoch] = l.LeaderID
	}
	n.leadership = l
	switch {
	case l.Active && l.Predecessor >= 0:
		c.note("n%d: leads epoch %d (active; n%d led epoch %d, followed from %d ms)", n.id, l.LeaderEpoch, l.Predecessor, l.LeaderEpoch-1,
			l.PredecessorSinceMs-n.monoOffset)
	case l.Active:
		c.note("n%d: leads epoch %d (active)", n.id, l.LeaderEpoch)
	case l.LeaderID == n.id:
		c.note("n%d: leads epoch %d", n.id, l.LeaderEpoch)
	case l.LeaderID >= 0:
		c.note("n%d: follows %d in epoch %d", n.id, l.LeaderID, l.LeaderEpoch)
	case l.Resigned:
		c.note("n%d: no leader in epoch %d (its leader resigned, having committed offset %d)", n.id, l.LeaderEpoch, l.ResignedOffset)
	default:
		c.note("n%d: no leader in epoch %d", n.id, l.LeaderEpoch)
	}
}

// activeLeader is the up node that leads actively, or nil.
func (c *testCluster) activeLeader() *testNode {
	for _, n := range c.nodes {
		if n.up && n.leadership.Active {
			return n
		}
	}
	return nil
}

// propose proposes a new named batch on the active leader.
func (c *testCluster) propose() (string, error) {
	n := c.activeLeader()
	if n == nil {
		return "", ErrNotLeader
	}
	return c.proposeOn(n)
}

// proposeOn proposes a new named batch on node n, leader or not.
func (c *testCluster) proposeOn(n *testNode) (string, error) {
	if !n.up {
		return "", fmt.Errorf("n%d is down", n.id)
	}
	c.nextID++
	name := fmt.Sprintf("p%d", c.nextID)
	data := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Records: []cluster.MetadataRecord{cluster.TopicRecord{Name: name}}})
	id, err := n.q.Propose(data)
	if err != nil {
		return "", err
	}
	n.pending[id] = name
	c.proposed[name] = true
	c.detail("n%d: proposed %s as %d", n.id, name, id)
	return name, nil
}

// changeMembership proposes adding a learner (add) or removing a node.
func (c *testCluster) changeMembership(add bool, node int32) (string, error) {
	n := c.activeLeader()
	if n == nil {
		return "", ErrNotLeader
	}
	name, propose := fmt.Sprintf("remove-node %d", node), n.q.RemoveNode
	if add {
		name, propose = fmt.Sprintf("add-learner %d", node), n.q.AddLearner
	}
	id, err := propose(node)
	if err != nil {
		return "", err
	}
	n.pending[id] = name
	return name, nil
}

// addMissingLearners makes the active leader add each learner node that
// is not a member yet, as a leader does when a broker registers.
func (c *testCluster) addMissingLearners() {
	l := c.activeLeader()
	if l == nil {
		return
	}
	for _, id := range c.opts.learners {
		m := l.q.Membership()
		if !slices.Contains(m.Learners, id) && !slices.Contains(m.Voters, id) {
			if _, err := c.changeMembership(true, id); err != nil && !errors.Is(err, ErrMembershipChangePending) {
				c.t.Fatalf("add learner %d: %v", id, err)
			}
			return
		}
	}
}

// converged says whether every node is up and holds the leader's history.
func (c *testCluster) converged() bool {
	l := c.activeLeader()
	if l == nil {
		return false
	}
	for _, n := range c.nodes {
		if !n.up || n.lastData != l.lastData || n.hash != l.hash || n.count != l.count {
			return false
		}
	}
	return true
}

func (c *testCluster) status() string {
	var b strings.Builder
	for _, n := range c.nodes {
		if !n.up {
			fmt.Fprintf(&b, "n%d: down\n", n.id)
			continue
		}
		st := n.q.Status()
		fmt.Fprintf(&b, "n%d: %s, leader %d, epoch %d, high watermark %d, applied %d, %d batches to %d\n",
			n.id, st.Role, st.LeaderID, st.LeaderEpoch, st.HighWatermark, st.AppliedOffset, n.count, n.lastData)
	}
	return b.String()
}

// testNetwork holds messages in flight, ordered by delivery time, and the
// links cut by partitions; messages of the types in holding it keeps in
// held until released (the script's hold and release).
type testNetwork struct {
	inflight []inflightMessage
	seq      uint64
	cut      map[[2]int32]bool
	holding  []raftpb.MessageType
	held     []inflightMessage
}

type inflightMessage struct {
	at       int64
	seq      uint64
	from, to int32
	typ      raftpb.MessageType
	data     []byte
}

func (c *testCluster) send(from *testNode, env Envelope) {
	data, err := MarshalMessage(env.Message)
	if err != nil {
		c.t.Fatal(err)
	}
	lost := c.net.cut[[2]int32{from.id, env.To}]
	if lost {
		from.q.ReportUnreachable(env.To)
	} else if c.opts.dropPercent > 0 && c.rng.IntN(100) < c.opts.dropPercent {
		lost = true
	}
	if env.CarriesSnapshot() {
		from.q.ReportSnapshot(env.To, !lost)
		c.stats.snapshotsSent++
	}
	if lost {
		return
	}
	delay := c.opts.minDelayMs + c.rng.Int64N(c.opts.maxDelayMs-c.opts.minDelayMs+1)
	m := inflightMessage{at: c.now + delay, from: from.id, to: env.To, typ: env.Message.GetType(), data: data}
	if slices.Contains(c.net.holding, env.Message.GetType()) {
		m.at = delay // from its release
		c.net.held = append(c.net.held, m)
		if m.typ != raftpb.MsgHeartbeat {
			c.note("n%d: %s to n%d held", from.id, m.typ, env.To)
		}
		return
	}
	c.enqueue(m)
}

// enqueue puts m in flight, after the messages due no later.
func (c *testCluster) enqueue(m inflightMessage) {
	c.net.seq++
	m.seq = c.net.seq
	i := sort.Search(len(c.net.inflight), func(i int) bool {
		o := c.net.inflight[i]
		return o.at > m.at || (o.at == m.at && o.seq > m.seq)
	})
	c.net.inflight = slices.Insert(c.net.inflight, i, m)
}

// deliver hands every message due to its node, unless the node is down or
// the link was cut meanwhile.
func (c *testCluster) deliver() {
	for len(c.net.inflight) > 0 && c.net.inflight[0].at <= c.now {
		m := c.net.inflight[0]
		c.net.inflight = c.net.inflight[1:]
		n := c.node(m.to)
		if !n.up || c.net.cut[[2]int32{m.from, m.to}] {
			continue
		}
		if n.paused {
			n.backlog = append(n.backlog, m)
			continue
		}
		c.stepMessage(n, m)
	}
}

// stepMessage has node n step message m.
func (c *testCluster) stepMessage(n *testNode, m inflightMessage) {
	err := n.q.StepBytes(c.instant(n), m.data)
	if errors.Is(err, ErrLogLost) {
		// The shell stops the node, as on a failed write.
		_ = n.log.Close()
		n.up, n.q, n.log = false, nil, nil
		c.note("n%d: stopped: %v", n.id, err)
		return
	}
	if err != nil {
		c.t.Fatalf("n%d: step a message from n%d: %v", m.to, m.from, err)
	}
}

// pause stands node n still (testNode.paused).
func (c *testCluster) pause(n *testNode) {
	n.paused = true
	c.note("n%d: paused", n.id)
}

// resume has a paused node step its backlog, then go on (its overdue
// ticks come with the next step).
func (c *testCluster) resume(n *testNode) {
	if !n.paused {
		return
	}
	n.paused = false
	c.note("n%d: resumed (%d messages waiting)", n.id, len(n.backlog))
	backlog := n.backlog
	n.backlog = nil
	for _, m := range backlog {
		if !n.up {
			return
		}
		c.stepMessage(n, m)
		c.handleReadies(n)
	}
}

// release sends on the messages held of the types given (every type when
// none is), each due after its delay from now, and holds those types no
// more.
func (c *testCluster) release(types ...raftpb.MessageType) {
	if len(types) == 0 {
		types = c.net.holding
	}
	var held, kept []inflightMessage
	for _, m := range c.net.held {
		if slices.Contains(types, m.typ) {
			held = append(held, m)
		} else {
			kept = append(kept, m)
		}
	}
	c.net.held = kept
	c.net.holding = slices.DeleteFunc(c.net.holding, func(t raftpb.MessageType) bool { return slices.Contains(types, t) })
	c.note("released %d held messages", len(held))
	for _, m := range held {
		m.at += c.now
		c.enqueue(m)
	}
}

// partition cuts every link between nodes of different groups; nodes in no
// group are cut from everyone.
func (c *testCluster) partition(groups ...[]int32) {
	group := func(id int32) int {
		for i, g := range groups {
			if slices.Contains(g, id) {
				return i
			}
		}
		return -1 - int(id)
	}
	for _, a := range c.nodes {
		for _, b := range c.nodes {
			if a.id != b.id && group(a.id) != group(b.id) {
				c.net.cut[[2]int32{a.id, b.id}] = true
			}
		}
	}
	c.stats.partitions++
	c.note("partition %v", groups)
}

// isolate cuts one node off from every other.
func (c *testCluster) isolate(id int32) {
	var others []int32
	for _, n := range c.nodes {
		if n.id != id {
			others = append(others, n.id)
		}
	}
	c.partition([]int32{id}, others)
}

// cut cuts the link from node from to node to, one way.
func (c *testCluster) cut(from, to int32) {
	c.net.cut[[2]int32{from, to}] = true
	c.stats.partitions++
	c.note("cut n%d -> n%d", from, to)
}

func (c *testCluster) heal() {
	c.net.cut = map[[2]int32]bool{}
	c.note("healed")
}
