package sim

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/cluster/quorum"
	"gregor/logstore"
	"gregor/logstore/raftlog"
	"gregor/logstore/vfs"
)

// node is one simulated broker (and, when it is a voter, controller): the
// shell the simulator puts around the real cores, doing with their effects
// what the actors and netio do in production. It runs only inside events of
// its own (at and receive), which drop what belonged to an earlier process
// (incarnation) and hold everything while the node is paused.
type node struct {
	w  *World
	id int32
	fs *vfs.Mem
	// view is the fetch servers' scratch fetch view (node_fetch.go).
	view cluster.FetchView

	// inc counts the node's process starts; events of an older one are
	// dropped. up says a process runs; paused that it is stopped (SIGSTOP).
	inc     uint64
	started bool
	up      bool
	paused  bool
	backlog []func()
	// failing is set when the process must stop (a durable write failed):
	// it crashes once the current event is done.
	failing error

	// clock is the node's monotonic and wall clocks (clock.go).
	clock nodeClock

	rpc *rpcs
	// open are the requests the process took off the network and has not
	// answered yet, each with the order it took them in: when the process
	// stops (but for a power loss), its connections close and each caller
	// hears so at once (closeConnections).
	open     map[*message]uint64
	openNext uint64
	// queue is work posted by the node's own handlers, run in order before
	// the event ends (so that no core is entered while it is carrying out).
	queue []func()

	// wakeAtMs is the earliest wake-up scheduled (virtual ms), math.MaxInt64
	// when none; wakesThisMs counts wake-ups at the same instant (a core
	// that asks to be ticked again and again without acting spins).
	wakeAtMs    int64
	lastWakeMs  int64
	wakesThisMs int

	// The metadata quorum and the controller.
	raftLog    *raftlog.Log
	q          *quorum.Quorum
	image      *cluster.MetadataImage
	leadership quorum.Leadership
	ctrl       *cluster.Controller
	// ctrlProposals are the controller's batches proposed to the quorum,
	// oldest first.
	ctrlProposals []ctrlProposal
	// peerClosedAtMs holds the nodes whose connections to this node's
	// CONTROLLER listener closed, and when, that have not contacted it
	// since (conns_closed.go).
	peerClosedAtMs map[int32]int64

	// The broker's lifecycle: production's core (cluster.BrokerLifecycle,
	// Kafka's BrokerLifecycleManager) for this process, and where its
	// requests go (node_broker.go). shutdownDone runs when a controlled
	// shutdown is over.
	incarnation cluster.IncarnationID
	// previousBrokerEpoch is the broker epoch the last process left in
	// its shutdown marker, nil after an unclean stop; markedEpoch is the
	// epoch of the running marker this process wrote (-1: none); boots
	// counts the power losses (the machine's boot id).
	previousBrokerEpoch *int64
	markedEpoch         int64
	// unmarkedEpoch is the last epoch whose running marker failed.
	unmarkedEpoch int64
	boots         int
	// wipes counts the wipes of the node's data directory (data_wipe.go).
	wipes           int
	lifecycle       *cluster.BrokerLifecycle
	controllerGuess int
	shutdownDone    func()
	// noController is what the lifecycle was last told of the offset past
	// which no controller commits (noControllerPast).
	noController int64
	// leaseRefused is the lease under which the coordinators last refused
	// a request, so the timeline notes each lapse once (node_lease.go).
	leaseRefused cluster.BrokerLease
	// handOffDone runs when the quorum's leadership was handed on before
	// a graceful stop (node_quorum.go).
	handOffDone func()

	// The replica manager: replicas run once the node's registration is in
	// its image; hosted is the image they were last moved to.
	replicasOn bool
	hosted     *cluster.MetadataImage
	replicas   map[tpKey]*replicaHost
	// retries decides when this process starts its offline replicas
	// again (cluster.OfflineReplicas).
	retries *cluster.OfflineReplicas
	// retryArmed says a retryOffline timer is pending, at retryArmedAt
	// (virtual time; armRetry).
	retryArmed   bool
	retryArmedAt int64
	keys         []tpKey // sorted
	// ineligible are the brokers hosted says may join no ISR, as the
	// replicas were last told.
	ineligible []int32
	// offlineSeen says hosted had a broker reporting an offline replica.
	offlineSeen bool
	// truncatesOnFetch is what the node's followers were last told of
	// truncating on fetch (truncateOnFetch).
	truncatesOnFetch bool
	// coords are the group coordinators of the __consumer_offsets
	// partitions the node leads, by partition.
	coords   []*groupHost
	fetchers map[int32]*fetcherHost
	leaders  []int32 // the fetchers' leaders, sorted
	servers  map[uint64]*fetchServer
	// fetchSessions is the process's fetch session cache (KIP-227), as a
	// broker's router keeps it; a restart loses it.
	fetchSessions *cluster.FetchSessions
	// serverIDs are the fetch servers waiting, oldest first.
	serverIDs  []uint64
	nextServer uint64
	// cleaner is the node's log cleaner (compaction.go).
	cleaner nodeCleaner
	// dirty are the replicas an event touched, for the checks.
	dirty []*replicaHost
	// checkpointed are the high watermarks read at start
	// (replication-offset-checkpoint); nextCheckpointMs when they are next
	// written.
	checkpointed     map[logstore.TopicPartition]int64
	nextCheckpointMs int64
	// diskEnd is the end of each partition log the node's processes wrote
	// (the simulator's bookkeeping, which outlives processes); preCrashEnd
	// is what it was when a power loss hit, to learn at the next open of
	// the log what the loss dropped.
	diskEnd     map[tpKey]int64
	preCrashEnd map[tpKey]int64
	// syncedAtPowerLoss is, per partition log open at a power loss of the
	// node, the offset below which it had synced every record: its
	// recovery must keep them all (R1, checkpoint_loss.go).
	syncedAtPowerLoss map[tpKey]int64
	// closedShadows are the shadows of the replicas whose logs were closed
	// with their data kept, for the next open to fill the gaps compaction
	// left (compaction_gaps.go).
	closedShadows map[tpKey]*shadowLog
	// outbox holds the raft messages for learners until they poll;
	// learner, on a node that is not a voter, picks the voter it polls
	// (node_learner.go).
	outbox  *quorum.Outbox
	learner *quorum.LearnerPoll
	// leftDirs are the partition directories a deleted replica left behind
	// (their removal failed: a disk fault), by name (checkNoStaleReplicas).
	leftDirs map[string]bool

	// Disk faults: while diskFaultUntilMs is ahead, writes and fsyncs fail
	// with EIO with probability diskFaultP (and, with diskFaultAllOps,
	// every other operation too: reads, opens, renames, removals...).
	diskFaultUntilMs int64
	diskFaultP       float64
	diskFaultAllOps  bool
	// diskErrorSeen says an I/O error was injected in this process: its logs
	// may refuse every write until reopened (a failed fsync is sticky), so
	// healing restarts it.
	diskErrorSeen bool
	// While dataDiskFullUntilMs is ahead, the disk of the node's log.dirs
	// is full: writes there fail with ENOSPC, but for the metadata log's,
	// on a disk of its own (metadata.log.dir).
	dataDiskFullUntilMs int64
	// The slow disk (slow_disk.go): while slowDiskUntilMs is ahead, each
	// follower append takes slowDiskMeanMs on average, one after the
	// other; diskBusyUntilMs is when the disk finishes the appends this
	// process queued.
	slowDiskUntilMs, diskBusyUntilMs int64
	slowDiskMeanMs                   float64
}

type ctrlProposal struct {
	id    quorum.ProposalID
	epoch int64
}

// tpKey names a partition.
type tpKey struct {
	topic     string
	partition int32
}

func (k tpKey) String() string { return fmt.Sprintf("%s/%d", k.topic, k.partition) }

func compareKeys(a, b tpKey) int {
	if a.topic != b.topic {
		if a.topic < b.topic {
			return -1
		}
		return 1
	}
	return int(a.partition) - int(b.partition)
}

const (
	dataDir        = "/data"
	checkpointPath = dataDir + "/" + logstore.ReplicationOffsetCheckpointFile
	// metadataLogDir is the metadata log's directory (metadata.log.dir).
	metadataLogDir = dataDir + "/" + raftlog.DirName
	wallStartMs    = 1_700_000_000_000
	never          = int64(math.MaxInt64)
)

var nopLogger = zap.NewNop()

func newNode(w *World, id int32) *node {
	n := &node{w: w, id: id, wakeAtMs: never, diskEnd: map[tpKey]int64{}, preCrashEnd: map[tpKey]int64{},
		syncedAtPowerLoss: map[tpKey]int64{}}
	n.fs = vfs.NewMem(vfs.WithTornWrites(w.opts.Seed ^ uint64(id)*0x2545f4914f6cdd1d))
	n.clock = nodeClock{monoBaseMs: 1_000_000 * int64(id)}
	_ = n.fs.MkdirAll(dataDir, 0o755)
	_ = n.fs.SyncDir("/")
	n.fs.SetErrorHook(n.diskHook)
	return n
}

func (n *node) name() string { return fmt.Sprintf("n%d", n.id) }

func (n *node) rpcTable() *rpcs { return n.rpc }

// at runs fn at atMs in this process of the node.
func (n *node) at(atMs int64, fn func()) {
	inc := n.inc
	n.w.schedule(atMs, func() {
		if n.inc != inc || !n.up {
			return
		}
		if n.paused {
			n.backlog = append(n.backlog, fn)
			return
		}
		n.run(fn)
	})
}

// receive takes a message off the network.
func (n *node) receive(m *message) {
	if !n.up {
		n.w.net.bounce(m)
		return
	}
	if m.kind == msgRequest && m.corr != 0 { // corr 0: a notice, never answered
		if n.open == nil {
			n.open = map[*message]uint64{}
		}
		n.openNext++
		n.open[m] = n.openNext
	}
	fn := func() { n.handle(m) }
	if n.paused {
		n.backlog = append(n.backlog, fn)
		return
	}
	n.run(fn)
}

// post queues work for the end of the current event.
func (n *node) post(fn func()) { n.queue = append(n.queue, fn) }

// run is one event of the node: the handler, the work it posted, a crash
// if a durable write failed, then the next wake-up and the checks.
func (n *node) run(fn func()) {
	fn()
	for len(n.queue) > 0 && n.up && n.failing == nil {
		next := n.queue[0]
		n.queue = n.queue[1:]
		next()
	}
	n.queue = nil
	if n.failing == nil {
		n.syncCoordinators()
		n.syncTxnCoordinators()
		for len(n.queue) > 0 && n.up && n.failing == nil {
			next := n.queue[0]
			n.queue = n.queue[1:]
			next()
		}
		n.queue = nil
	}
	if n.failing != nil {
		w, err := n.w, n.failing
		w.crash(n, false, fmt.Sprintf("process stopped: %v", err))
		w.superviseRestart(n)
		return
	}
	n.rearm()
	n.w.checkNode(n)
}

// fail stops the process after the current event (a shell stops its node
// when the metadata log cannot be written).
func (n *node) fail(err error) {
	if n.failing == nil {
		n.failing = err
	}
}

func (n *node) handle(m *message) {
	n.peerHeard(m)
	switch m.kind {
	case msgRaft:
		if n.q == nil {
			return
		}
		if err := n.q.StepBytes(n.instant(), m.body.([]byte)); err != nil {
			n.w.violation("S9", fmt.Sprintf("%s: raft message from %s refused: %v", n.name(), endpointName(m.from), err))
			return
		}
		n.settle()
	case msgResponse:
		n.rpc.completeCall(m)
	case msgRequest:
		n.serve(m)
	}
}

// serve answers a request, as the router of a broker (and its controller
// listener) does.
func (n *node) serve(m *message) {
	switch req := m.body.(type) {
	case *raftPoll:
		n.serveRaftPoll(m, req)
	case *produceRequest:
		n.serveProduce(m, req)
	case *producerProduce:
		n.serveProducerProduce(m, req)
	case *txnEnvelope:
		n.serveTxn(m, req)
	case *metadataRequest:
		n.w.respond(m, n.metadata())
	case *kmsg.FetchRequest:
		n.serveFetch(m, req)
	case *fetchConnClosed:
		n.fetchConnClosed(m.from, req)
	case *controllerConnsClosed:
		n.connsClosed(m.from)
	case *kmsg.OffsetForLeaderEpochRequest:
		n.serveOffsetForLeaderEpoch(m, req)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		r := *req // the core may fill in fields; a duplicate must arrive as sent
		n.serveGroup(m, &r, req.Group)
	case *kmsg.OffsetCommitRequest:
		n.serveGroup(m, req, req.Group)
	case *kmsg.JoinGroupRequest:
		r := *req
		n.serveGroup(m, &r, req.Group)
	case *kmsg.SyncGroupRequest:
		n.serveGroup(m, req, req.Group)
	case *kmsg.HeartbeatRequest:
		n.serveGroup(m, req, req.Group)
	case *kmsg.OffsetFetchRequest:
		n.serveGroup(m, req, req.Group)
	case *kmsg.DeleteRecordsRequest:
		n.serveDeleteRecords(m, req)
	case kmsg.Request:
		n.serveController(m, req)
	default:
		panic(fmt.Sprintf("sim: %s got a request of type %T", n.name(), m.body))
	}
}

// start begins a process on the node: the metadata log is recovered, the
// quorum core starts from it, and the broker registers with the
// controller.
func (n *node) start() error {
	w := n.w
	n.inc++
	n.up, n.paused, n.failing, n.diskErrorSeen = true, false, nil, false
	n.diskBusyUntilMs = 0
	n.backlog, n.queue = nil, nil
	// Correlation ids go on from the last process's: an answer to a request
	// of that process finds no call (a new process has new connections).
	next := uint64(0)
	if n.rpc != nil {
		next = n.rpc.next
	}
	n.rpc = newRPCs()
	n.rpc.next = next
	n.wakeAtMs = never
	n.image, n.hosted = cluster.NewMetadataImage(), nil
	n.leadership = quorum.Leadership{LeaderID: -1}
	n.ctrlProposals, n.peerClosedAtMs = nil, nil
	n.lifecycle, n.shutdownDone, n.handOffDone = nil, nil, nil
	n.replicasOn, n.truncatesOnFetch = false, false
	n.replicas, n.keys = map[tpKey]*replicaHost{}, nil
	n.retries = cluster.NewOfflineReplicas(cluster.OfflineReplicasOptions{})
	n.retryArmed = false
	n.fetchers, n.servers = map[int32]*fetcherHost{}, map[uint64]*fetchServer{}
	n.fetchSessions = cluster.NewFetchSessions(cluster.FetchSessionsConfig{Slots: cluster.DefaultFetchSessionCacheSlots}, func() int32 {
		var b [4]byte
		_, _ = w.ids.Read(b[:])
		return int32(binary.BigEndian.Uint32(b[:]) >> 1)
	})
	n.leaders, n.serverIDs, n.dirty = nil, nil, nil
	n.cleaner = nodeCleaner{}
	n.nextCheckpointMs = w.now + w.timing.hwCheckpointIntervalMs
	_, _ = w.ids.Read(n.incarnation[:])

	// Until this process registers, its data is what the last one left:
	// the marker becomes this boot's running one, and a crash without a
	// power loss still loses nothing.
	previous, err := logstore.TakeBrokerShutdown(n.fs, dataDir, n.bootID())
	if err != nil {
		return fmt.Errorf("take the clean shutdown marker: %w", err)
	}
	n.previousBrokerEpoch, n.markedEpoch, n.unmarkedEpoch = previous, -1, -1
	if previous != nil {
		w.stats.CleanShutdownRegistrations++
	}
	offsets, err := logstore.ReadOffsetCheckpointFile(n.fs, checkpointPath)
	if err != nil {
		w.tracef("%s: high watermark checkpoint ignored: %v", n.name(), err)
		offsets = map[logstore.TopicPartition]int64{}
	}
	n.checkpointed = offsets

	log, st, err := raftlog.Open(n.fs, metadataLogDir, nopLogger)
	if err != nil {
		return fmt.Errorf("open the metadata log: %w", err)
	}
	_, statErr := n.fs.Stat(catchUpMarker)
	q, err := quorum.New(quorum.Config{
		NodeID: n.id, Voters: w.voters, CatchingUp: statErr == nil,
		ElectionTimeoutMs: w.timing.electionTimeoutMs, HeartbeatIntervalMs: w.timing.raftHeartbeatMs, TickMs: w.timing.raftTickMs,
		SpreadTicks: true, SnapshotIntervalBytes: w.timing.snapshotIntervalBytes, SnapshotCatchUpEntries: 100,
	}, st)
	if err != nil {
		return fmt.Errorf("start the quorum core: %w", err)
	}
	if err := n.markCatchingUp(q, statErr == nil); err != nil {
		return err
	}
	n.raftLog, n.q = log, q
	n.startLearnerPoll()
	n.ctrl = cluster.NewController(cluster.ControllerConfig{
		NodeID: n.id, NumPartitions: 1, DefaultReplicationFactor: int16(min(3, len(w.nodes))),
		StaticBrokerConfigs: w.staticConfigs, Entropy: w.ids, DeleteTopicEnable: true,
		BrokerSessionTimeoutMs: w.timing.sessionTimeoutMs, BrokerHeartbeatIntervalMs: w.timing.heartbeatIntervalMs,
		UncleanLeaderElectionIntervalMs: w.timing.uncleanIntervalMs,
		// Production's periodic preferred-leader election
		// (auto.leader.rebalance.enable, on by default), every
		// leader.imbalance.check.interval; the plant no-leader-balance
		// turns it off, as the simulator ran before.
		AutoLeaderRebalanceEnable:      w.timing.leaderBalanceMs > 0 && w.opts.Plant != PlantNoLeaderBalance,
		LeaderImbalanceCheckIntervalMs: w.timing.leaderBalanceMs,
		// The first controller names the cluster and finalizes
		// gregor.replication.version 1 (followers truncate on fetch) and
		// eligible.leader.replicas.version 1 (KIP-966's ELR), as a new
		// cluster of the node's build starts; transaction.version stays
		// unfinalized (the profile's clients pick KIP-890 part 2).
		NameCluster: true, ClusterID: "sim-cluster",
		BootstrapFeatures: map[string]int16{cluster.ReplicationVersionFeature: 2, cluster.EligibleLeaderReplicasFeature: 1},
	})
	n.run(func() {
		n.q.Tick(n.instant())
		n.settle()
		n.startLifecycle()
	})
	return nil
}

// stopProcess forgets everything the process held in memory; what it wrote
// stays on the filesystem (a power loss then drops what was not synced).
func (n *node) stopProcess() {
	for _, k := range n.keys {
		if h := n.replicas[k]; h != nil {
			n.keepShadow(h)
		}
	}
	n.up, n.paused = false, false
	n.inc++
	n.backlog, n.queue = nil, nil
	n.raftLog, n.q, n.ctrl = nil, nil, nil
	n.outbox, n.learner = nil, nil
	n.replicas, n.keys, n.fetchers, n.servers = nil, nil, nil, nil
	n.fetchSessions = nil
	n.leaders, n.serverIDs, n.dirty = nil, nil, nil
	n.replicasOn = false
	n.failing = nil
	n.coords = nil
	n.lifecycle, n.shutdownDone, n.handOffDone = nil, nil, nil
	n.cleaner = nodeCleaner{}
	n.open = nil
}

// closeConnections answers every request the process took and has not
// answered with a closed connection, in the order it took them, and tells
// the voters its connections closed (conns_closed.go), as the kernel
// closes a stopped process's sockets: the callers learn at once,
// where they would wait out their timeouts after a power loss (the
// machine is gone), and do not know whether the request was carried out.
func (n *node) closeConnections() {
	n.announceConnsClosed()
	reqs := make([]*message, 0, len(n.open))
	for m := range n.open {
		reqs = append(reqs, m)
	}
	slices.SortFunc(reqs, func(a, b *message) int { return cmp.Compare(n.open[a], n.open[b]) })
	for _, m := range reqs {
		n.w.net.send(&message{from: m.to, to: m.from, kind: msgResponse, corr: m.corr, err: errConnectionClosed})
	}
	n.open = nil
}

// rearm schedules the node's next wake-up at the earliest deadline of its
// cores and timers.
func (n *node) rearm() {
	if !n.up {
		return
	}
	next := n.nextDeadline()
	if next == never || next >= n.wakeAtMs {
		return
	}
	at := max(next, n.w.now)
	n.wakeAtMs = at
	n.at(at, n.wake)
}

// nextDeadline is the earliest virtual time at which a core of the node, or
// one of its timers, has work.
func (n *node) nextDeadline() int64 {
	next := never
	if n.q != nil {
		next = min(next, n.monoToVirtual(n.q.NextTickMs()))
	}
	if n.ctrl != nil {
		if d, ok := n.ctrl.NextDeadline(); ok {
			next = min(next, n.monoToVirtual(d))
		}
	}
	if n.lifecycle != nil {
		if d, ok := n.lifecycle.NextDeadline(); ok {
			next = min(next, n.monoToVirtual(d))
		}
	}
	if n.replicasOn {
		next = min(next, n.nextCheckpointMs)
	}
	// The cores' deadlines as their shells cached them after each input:
	// a core's deadline changes only when it is called.
	for _, k := range n.keys {
		if h := n.replicas[k]; h.core != nil {
			next = min(next, n.monoToVirtual(h.deadlineMs))
		}
	}
	for _, leader := range n.leaders {
		next = min(next, n.monoToVirtual(n.fetchers[leader].deadlineMs))
	}
	for _, id := range n.serverIDs {
		next = min(next, n.monoToVirtual(n.servers[id].core.NextDeadlineMs()))
	}
	for _, gh := range n.coords {
		if gh != nil {
			next = min(next, n.monoToVirtual(gh.deadlineMs()))
		}
	}
	return min(next, n.txnDeadline())
}

// wake ticks every core whose deadline passed and runs the timers due.
func (n *node) wake() {
	w := n.w
	if w.now == n.lastWakeMs {
		n.wakesThisMs++
		if n.wakesThisMs > 10_000 {
			w.violation("L2", fmt.Sprintf("%s: a core asks to be ticked again and again at %d ms without acting", n.name(), w.now))
			return
		}
	} else {
		n.lastWakeMs, n.wakesThisMs = w.now, 0
	}
	if n.wakeAtMs <= w.now {
		n.wakeAtMs = never
	}
	now := n.instant()
	if n.q != nil && now.MonoMs >= n.q.NextTickMs() {
		n.q.Tick(now)
		n.settle()
		n.pollRaft()
	}
	if n.ctrl != nil {
		if d, ok := n.ctrl.NextDeadline(); ok && now.MonoMs >= d {
			n.ctrl.Tick(now)
			n.settle()
		}
	}
	if n.lifecycle != nil {
		if d, ok := n.lifecycle.NextDeadline(); ok && now.MonoMs >= d {
			n.lifecycle.Tick(now)
			n.driveLifecycle()
		}
	}
	for _, k := range slices.Clone(n.keys) {
		if h := n.replicas[k]; h != nil && h.core != nil && !h.busy && now.MonoMs >= h.deadlineMs {
			h.core.Tick(now)
			h.carryOut()
		}
	}
	for _, leader := range n.leaders {
		f := n.fetchers[leader]
		if now.MonoMs >= f.deadlineMs {
			f.core.Tick(now)
			n.runFetcher(f)
		}
	}
	for _, id := range slices.Clone(n.serverIDs) {
		if s := n.servers[id]; s != nil && now.MonoMs >= s.core.NextDeadlineMs() {
			s.core.Tick(now)
			s.process()
		}
	}
	for _, gh := range n.coords {
		if gh != nil {
			gh.tick(now.MonoMs)
		}
	}
	n.txnTick(now.MonoMs)
	if n.replicasOn && w.now >= n.nextCheckpointMs {
		n.writeCheckpoint()
	}
}

// writeCheckpoint writes the high watermarks of the running replicas
// (replica.high.watermark.checkpoint.interval.ms).
func (n *node) writeCheckpoint() {
	n.nextCheckpointMs = n.w.now + n.w.timing.hwCheckpointIntervalMs
	offsets := map[logstore.TopicPartition]int64{}
	for _, k := range n.keys {
		if h := n.replicas[k]; h.core != nil {
			offsets[logstore.TopicPartition{Topic: k.topic, Partition: k.partition}] = h.core.HighWatermark()
		}
	}
	if err := logstore.WriteOffsetCheckpointFile(n.fs, checkpointPath, offsets); err != nil {
		n.w.tracef("%s: high watermark checkpoint not written: %v", n.name(), err)
	}
}

// diskHook fails writes and fsyncs (with diskFaultAllOps, every operation
// but a close) during a disk fault (EIO).
func (n *node) diskHook(op vfs.Op, path string) error {
	if n.w.now < n.dataDiskFullUntilMs && (op == vfs.OpWrite || op == vfs.OpWriteAt) && !strings.HasPrefix(path, metadataLogDir+"/") {
		return &fs.PathError{Op: string(op), Path: path, Err: syscall.ENOSPC}
	}
	if n.w.now >= n.diskFaultUntilMs {
		return nil
	}
	switch op {
	case vfs.OpWrite, vfs.OpWriteAt, vfs.OpSync, vfs.OpTruncate:
	case vfs.OpClose:
		return nil
	default:
		if !n.diskFaultAllOps {
			return nil
		}
	}
	if !chance(n.w.rngDisk, n.diskFaultP) {
		return nil
	}
	n.w.stats.DiskErrors++
	n.diskErrorSeen = true
	n.w.tracef("%s: disk %s %s failed (EIO)", n.name(), op, path)
	return &fs.PathError{Op: string(op), Path: path, Err: syscall.EIO}
}

func sortedIDs[V any, K ~int32 | ~uint64](m map[K]V) []K {
	ids := make([]K, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
