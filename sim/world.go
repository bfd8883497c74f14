package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"gregor/groups"
)

// Options configure one run.
type Options struct {
	// Seed decides everything: the profile (when not given), the faults,
	// the workload, the network, raft's election jitter.
	Seed uint64
	// Nodes is the number of brokers (node ids 1..Nodes); the first
	// min(Nodes, 3) are the controller voters, the others raft learners.
	// Zero means 3.
	Nodes int
	// DurationMs is the length of the faulty phase with the workload; the
	// run then heals, converges and reads everything back. Zero means 60 s.
	DurationMs int64
	// Plant breaks one rule in the simulator's shell, to show a checker
	// catches it (PlantNone: none).
	Plant Plant
	// Profile is the fault and workload mix; nil draws it from the seed
	// (swarm testing).
	Profile *Profile
	// ProfileName names Profile among NamedProfiles, for the replay
	// command; empty when it is drawn or built by hand.
	ProfileName string
	// Trace receives the full event log, a line per event; its SHA-256 is
	// the report's TraceHash either way.
	Trace io.Writer
	// Timeline receives the readable timeline as it happens (faults,
	// elections, ISR and leader changes, violations).
	Timeline io.Writer
	// HTML receives the run's page when it ends (see html.go).
	HTML io.Writer
	// LimitFaults cuts the fault schedule after its first MaxFaults
	// faults (the injector draws no more): a replay of a failing seed with
	// a prefix of its schedule (see Shrink).
	LimitFaults bool
	MaxFaults   int
	// SkipFaults are faults of the schedule (by index, from 1) the
	// injector draws but does not inject; the others stay as they were
	// (see Shrink).
	SkipFaults []int
	// AskEpochFirst are the nodes whose followers ask their leader
	// OffsetForLeaderEpoch after every leader change before they fetch
	// (cluster.ReplicaOptions.TruncateOnFetch off); every other node's
	// truncate on fetch, by their leader's diverging epochs. Leaders
	// answer diverging epochs either way: this plays a cluster whose
	// replicas differ in the option.
	AskEpochFirst []int32
}

// Violation is a broken guarantee: the id of its checker (CORRECTNESS.md
// Q*, S*, L*), when and what.
type Violation struct {
	Check  string
	AtMs   int64
	Detail string
}

// String prints the violation on one line (its detail may run on).
func (v Violation) String() string {
	return fmt.Sprintf("%s at %s: %s", v.Check, fmtMs(v.AtMs), v.Detail)
}

// Report is what a run did and found.
type Report struct {
	Seed       uint64
	Nodes      int
	DurationMs int64
	Plant      Plant
	Profile    Profile
	// ProfileName is Options.ProfileName.
	ProfileName string
	Violations  []Violation
	TraceHash   string
	TraceLines  int
	SimulatedMs int64
	Events      int64
	Stats       Stats
	// Losses are losses the guarantees allow (acks=1 writes truncated,
	// unclean elections, data-losing crashes beyond D2), reported.
	Losses []string
	// ConvergedAtMs is when the cluster converged after healing, -1 if it
	// did not within the bound.
	ConvergedAtMs int64
	// Faults is the fault schedule the run played (up to its violation).
	Faults []FaultEvent
	// LimitFaults, MaxFaults and SkipFaults are the run's cut of its
	// fault schedule (Options).
	LimitFaults bool
	MaxFaults   int
	SkipFaults  []int
	// AskEpochFirst is Options.AskEpochFirst.
	AskEpochFirst []int32
	// HTMLErr is the error writing the page, if any.
	HTMLErr error
}

// Failed says the run found a violation.
func (r *Report) Failed() bool { return len(r.Violations) > 0 }

// Stats count what a run went through.
type Stats struct {
	Messages, MessagesDropped, MessagesDuplicated, MessagesCut int64
	RPCTimeouts                                                int64
	Crashes, PowerLosses, Restarts, Pauses, Partitions         int64
	ControlledShutdowns                                        int64
	ClockJumps, DiskFaults, DiskErrors, LinkFaults             int64
	// ClockDrifts are the faults that changed a node's clock rate
	// (clock.go).
	ClockDrifts int64
	// SkewedTimestamps are the values sent with a timestamp far from the
	// producer's clock, TimestampRefusals the attempts refused as
	// INVALID_TIMESTAMP (timestamps.go).
	SkewedTimestamps, TimestampRefusals int64
	// Clogs are swizzle-clog faults, MessagesClogged the messages their
	// clogged nodes held (faults_clog.go).
	Clogs, MessagesClogged int64
	// Reassignments are the operator's AlterPartitionAssignments
	// (faults_operator.go), ReassignmentsStarted those the controller took;
	// PreferredElections its ElectLeaders PREFERRED; ReassignmentsEnded
	// the reassignments under way that completed or were cancelled (a
	// target replica set taken at once is none).
	Reassignments, ReassignmentsStarted, PreferredElections int64
	ReassignmentsEnded                                      int64
	// DeleteRecordsAsked are the partitions DeleteRecords asked to delete
	// records of, DeleteRecordsAcked those answered without an error
	// (delete_records.go).
	DeleteRecordsAsked, DeleteRecordsAcked int64
	// RetentionChanges are the operator's retention settings of the
	// DeleteRecords topic, RetentionRaises the log starts retention
	// raised (retention.go).
	RetentionChanges, RetentionRaises int64
	// UncleanToggles are the operator's settings of a topic's
	// unclean.leader.election.enable (faults_operator.go).
	UncleanToggles int64
	// StrayDirsRenamed are the partition directories nodes renamed aside
	// at start (stray_dirs.go), StrayDirsOfOtherTopic those of them whose
	// name the image gives the node for another topic id.
	StrayDirsRenamed, StrayDirsOfOtherTopic int64
	// TopicDeletionsAsked are the admin's deletions of the topic it
	// creates again, TopicsRecreated those that ended with the topic
	// created again; UnknownTopicIDFetches the polls answered
	// UNKNOWN_TOPIC_ID (topic_recreate.go).
	TopicDeletionsAsked, TopicsRecreated, UnknownTopicIDFetches int64
	// LearnerPolls are the learners' polls for their raft messages,
	// LearnerMessagesDropped the messages a full outbox dropped
	// (node_learner.go).
	LearnerPolls, LearnerMessagesDropped int64
	// LearnerPollsAway are the polls of another voter than the leader the
	// learner's raft knows.
	LearnerPollsAway int64
	// MinISRChanges are the operator's min.insync.replicas settings;
	// Unregistrations its UnregisterBroker requests, UnregistrationsTaken
	// those the controller took.
	MinISRChanges int64
	// BrokerConfigChanges are the operator's broker-wide config changes,
	// TopicOverridesDeleted the topic configs it deleted so that the
	// broker's apply (broker_configs.go).
	BrokerConfigChanges, TopicOverridesDeleted   int64
	Unregistrations, UnregistrationsTaken        int64
	FalseSuspicions, Suspicions                  int64
	ControllerChanges, LeaderChanges, ISRChanges int64
	// ELRElections are leaders elected from the eligible leader replicas
	// (KIP-966) when the ISR was empty, LastKnownELRElections from the
	// last known ones when the ELR was empty too; CleanShutdownRegistrations are
	// broker registrations after a clean shutdown (with its broker epoch).
	ELRElections, LastKnownELRElections, CleanShutdownRegistrations int64
	Truncations, OfflineReplicas, AlterPartitions                   int64
	// OfflineRetries are offline replicas started again after their
	// backoff (cluster.OfflineReplicas), without a restart.
	OfflineRetries                        int64
	Appends, ReplicaFetches, BytesFetched int64
	// FetchesGivenUp are Fetches a fetcher gave up for a partition new
	// to it or late for it (cluster.FetcherConfig.PromptFetchGapMs).
	FetchesGivenUp int64
	// FetchesDropped are the parked Fetches leaders dropped when the
	// connection of one given up closed (fetch_conn_closed.go).
	FetchesDropped int64
	// ViewReads are Fetch partitions answered from their replica's fetch
	// view (cluster.FetchView.ReadFromView), without a read.
	ViewReads int64
	// SlowDisks are the slow-disk faults, SlowAppends the follower appends
	// a slow disk delayed, SlowAppendsPastWait those it delayed beyond the
	// fetcher's outcome wait (the next Fetch went without their partition),
	// SlowAppendMaxMs the longest delay (slow_disk.go).
	SlowDisks, SlowAppends, SlowAppendsPastWait, SlowAppendMaxMs int64
	// SlowLeaderAppends are the leaders' appends a slow disk held,
	// SlowLeaderAppendMaxMs the longest, SlowLeaderInputsHeld the inputs
	// that waited behind them (slow_leader.go); of those,
	// SlowLeaderReadsHeld are fetch reads (the view was not current) and
	// SlowLeaderEpochAsksHeld OffsetForLeaderEpoch partitions.
	SlowLeaderAppends, SlowLeaderAppendMaxMs, SlowLeaderInputsHeld int64
	SlowLeaderReadsHeld, SlowLeaderEpochAsksHeld                   int64
	// MetadataLags are the metadata-lag faults, MetadataMessagesLagged
	// the raft messages they delayed; LaggedAlterPartitions are the ISR
	// changes a node asked for while its metadata lagged, and
	// LaggedAlterPartitionsRefused those the controller refused as
	// INVALID_UPDATE_VERSION, a partition epoch the node had not applied
	// yet (metadata_lag.go).
	MetadataLags, MetadataMessagesLagged                   int64
	LaggedAlterPartitions, LaggedAlterPartitionsRefused    int64
	Sends, SendsOK, SendsAcksAllOK, SendsFailed, SendsInfo int64
	Polls, RecordsRead                                     int64
	TopicsCreated, PartitionsAdded                         int64
	Compactions, RecordsCompacted                          int64
	// CheckpointsLost are the recovery-point checkpoints of compacted
	// partitions that power losses removed or damaged
	// (checkpoint_loss.go).
	CheckpointsLost int64
	// MetadataLogsLost are the metadata logs of broker-only nodes (raft
	// learners) that power losses took whole (metadata_log_loss.go).
	MetadataLogsLost int64
	// DataWipes are the nodes started again with an empty data
	// directory (data_wipe.go), VoterDataWipes those of them that were
	// voters of the metadata quorum.
	DataWipes, VoterDataWipes int64
	// ClusterDowns are the operator's stops of every node at once
	// (cluster_down.go).
	ClusterDowns int64
	// EmptyStretches are the empty batches followers took over stretches
	// of their leaders' logs that hold no batch (cluster's emptyStretch).
	EmptyStretches int64
	// ConsumerEmptyStretches are the empty batches consumers read over
	// such stretches, and EmptyPrefixRaises the log start offsets leaders
	// raised past a prefix of their logs that holds no batch (cluster's
	// emptyPrefixEnd).
	ConsumerEmptyStretches, EmptyPrefixRaises int64
	// StretchFaultsPlayed are the emptied-stretch faults that played out
	// (empty_stretch_fault.go).
	StretchFaultsPlayed           int64
	InvariantsChecked, PlantFired int64
	// MemberCrashes are the group members whose process crashed between
	// polls and started again as a new member (the member-crash fault).
	MemberCrashes int64
	// ClassicJoinsCapped are the classic members' JoinGroups that
	// subscribed to the first classicMaxTopics topics only, of more
	// (client_classic.go).
	ClassicJoinsCapped                              int64
	Transactions, TxnCommits, TxnAborts, TxnUnknown int64
	// TxnBatchesPipelined are transactional batches sent while an earlier
	// batch of the same producer to the same partition was in flight;
	// TxnBatchesRefusedRetried the OUT_OF_ORDER_SEQUENCE_NUMBER answers to
	// such batches that were retried (an earlier batch was unresolved),
	// and TxnBatchesRetriedOK the batches appended after such a refusal
	// (client_txn_pipeline.go).
	TxnBatchesPipelined, TxnBatchesRefusedRetried, TxnBatchesRetriedOK int64
	// VerificationSeqRefusals are the batches leaders refused as out of
	// order because an earlier batch of their producer waited for, or
	// failed, its transaction's verification (cluster's
	// checkVerificationSeq).
	VerificationSeqRefusals int64
	// TxnOutOfOrderFailures are pipelined transactions that failed on an
	// OUT_OF_ORDER_SEQUENCE_NUMBER no earlier batch explained (the client
	// aborts them, as franz-go fails them).
	TxnOutOfOrderFailures int64
	// The same for idempotent producers with a pipeline
	// (client_idempotent_pipeline.go): batches sent behind another in
	// flight to their partition, out-of-order refusals behind an
	// unresolved batch retried, and batches appended after one. (An
	// out-of-order refusal no earlier batch explains resets an idempotent
	// producer, as franz-go's: IdempotentResets; it fails none of its
	// records.)
	IdempotentBatchesPipelined, IdempotentBatchesRefusedRetried, IdempotentBatchesRetriedOK int64
	// OutOfOrderLost, OutOfOrderDeposed, OutOfOrderRewound and
	// OutOfOrderUnexplained sort by why the out-of-order refusals that
	// failed a transactional pipeline or reset an idempotent producer
	// (out_of_order.go).
	OutOfOrderLost, OutOfOrderDeposed, OutOfOrderRewound, OutOfOrderUnexplained int64
	// MetadataRewindsIgnored are the partitions of Metadata answers whose
	// leader epoch was older than the one the client knew, which the client
	// kept its own for (client.mergeTopic, franz-go's rule).
	MetadataRewindsIgnored int64
	// IdempotentEpochBumps are the epochs idempotent producers bumped
	// themselves (Profile.IdempotentEpochBump).
	IdempotentEpochBumps int64
	// IdempotentResets are the resets of idempotent producers by a
	// refusal for their producer (OUT_OF_ORDER_SEQUENCE_NUMBER,
	// UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH; as franz-go: a new
	// epoch or id, the values without an outcome sent again, none failed),
	// IdempotentValuesResent the values they sent again.
	IdempotentResets, IdempotentValuesResent int64
	// FetchReads are fetch answers whose records were read after the
	// plan (fetch_read.go); of them, FetchReadsRaced saw their replica
	// change meanwhile (leadership, truncation, log start, compaction),
	// FetchReadsChanged read other bytes than planned and
	// FetchReadsBroken read short (connection closed).
	FetchReads, FetchReadsRaced, FetchReadsChanged, FetchReadsBroken int64
	// LoadReads are coordinator load reads read after their plan
	// (coordinator_load.go); of them, LoadReadsRaced saw their replica
	// change meanwhile, LoadReadsDropped found their coordinator stopped
	// and LoadReadsBroken read short (the coordinator started over).
	LoadReads, LoadReadsRaced, LoadReadsDropped, LoadReadsBroken int64
}

// timing is the cluster's configuration of timeouts and intervals.
type timing struct {
	electionTimeoutMs, raftHeartbeatMs, raftTickMs int64
	sessionTimeoutMs, heartbeatIntervalMs          int64
	replicaLagMaxMs, replicaFetchWaitMs            int64
	controllerRPCTimeoutMs, fetchRPCTimeoutMs      int64
	requestTimeoutMs, deliveryTimeoutMs            int64
	hwCheckpointIntervalMs, uncleanIntervalMs      int64
	retryBackoffMs                                 int64
	// leaderBalanceMs is leader.imbalance.check.interval.seconds in ms;
	// 0 turns auto.leader.rebalance.enable off.
	leaderBalanceMs       int64
	snapshotIntervalBytes uint64
}

// defaultTiming is Kafka's defaults, with two shortened so that runs of a
// minute go through ISR changes and unclean elections:
// replica.lag.time.max.ms 10 s (Kafka: 30 s) and
// unclean.leader.election.interval.ms 10 s (Kafka: 5 min).
// leader.imbalance.check.interval comes from the profile
// (Profile.LeaderBalanceEveryMs).
func defaultTiming() timing {
	return timing{
		electionTimeoutMs: 1000, raftHeartbeatMs: 100, raftTickMs: 100,
		sessionTimeoutMs: 9000, heartbeatIntervalMs: 2000,
		replicaLagMaxMs: 10_000, replicaFetchWaitMs: 500,
		controllerRPCTimeoutMs: 3000, fetchRPCTimeoutMs: 5000,
		requestTimeoutMs: 5000, deliveryTimeoutMs: 20_000,
		hwCheckpointIntervalMs: 5000, uncleanIntervalMs: 10_000,
		retryBackoffMs: 200, snapshotIntervalBytes: 8 << 10,
	}
}

// World is one simulation: the cluster, its clients, the network, the
// virtual clock and the checkers, all on one goroutine.
type World struct {
	opts    Options
	profile Profile
	timing  timing
	now     int64
	queue   eventQueue
	events  int64
	stopped bool

	net     *network
	nodes   []*node
	voters  []int32
	clients []*client
	// staticConfigs are the brokers' server.properties.
	staticConfigs map[string]string

	rngFaults, rngWorkload, rngDisk, rngMembership *rand.Rand
	ids                                            io.Reader
	// rngTimestamps draws the producers' skewed timestamps and the
	// LogAppendTime topics; logAppendTimeTopics are those (timestamps.go).
	rngTimestamps       *rand.Rand
	logAppendTimeTopics map[string]bool
	// rngSlowDisk draws how long each append on a slow disk takes
	// (slow_disk.go).
	rngSlowDisk *rand.Rand
	// rngSlowLeader draws how long each slow leader append takes
	// (slow_leader.go).
	rngSlowLeader *rand.Rand
	// rngCheckpointLoss draws which recovery-point checkpoints a power
	// loss takes, and how (checkpoint_loss.go).
	rngCheckpointLoss *rand.Rand
	// rngMetadataLogLoss draws which power losses of learners take their
	// metadata log (metadata_log_loss.go).
	rngMetadataLogLoss *rand.Rand

	hist        *history
	checks      *serverChecks
	groupChecks *groupChecks
	// plantTopics are, for the offsets-outlive-topic plant, the topics
	// the group coordinators were ever told of (node_group.go).
	plantTopics map[string]groups.Topic
	// txn is the transaction side: the nodes' coordinators and producer
	// ids, its checks and the history's transactions (node_txn.go,
	// check_txn.go).
	txn    *txnWorld
	faults *faultInjector
	stats  Stats
	// stretch is the emptied-stretch fault's attempt under way, and
	// stretchQuiet stops the producers writing to its topic meanwhile
	// (empty_stretch_fault.go).
	stretch      *stretchRun
	stretchQuiet bool
	// stretchPrefix: the stretch topic takes no writes until the first
	// emptied-stretch attempt cut its follower off (empty_prefix_fault.go).
	stretchPrefix bool
	// deleted is what DeleteRecords deleted (delete_records.go), nil
	// when the profile sends none.
	deleted *deletedRecords
	// retained is what retention deleted (retention.go).
	retained *retained
	// recreated is what the run deleted and created again
	// (topic_recreate.go), nil when the profile does not.
	recreated *recreations

	traceHash  hash.Hash
	traceLines int
	traceBuf   []byte

	violations []Violation
	losses     []string
	// lossEra counts the losses the guarantees allow that struck each
	// partition (its records may be gone): state rebuilt from the
	// partition (a group's) starts a new era.
	lossEra map[tpKey]int
	// stateLossEra counts those of them that may have taken batches from
	// a partition leader's log, and so producer state (out_of_order.go);
	// stateLostMs is when the last of them struck (World.stateLost).
	stateLossEra map[tpKey]int
	stateLostMs  map[tpKey]int64
	// phase is where the run stands: the faulty phase, healing, done.
	phase         runPhase
	convergedAtMs int64

	// faultLog is the fault schedule so far; injecting points at the
	// entry a fault injection is filling in.
	faultLog  []FaultEvent
	injecting *FaultEvent
	// rec follows the run for its page (nil without one).
	rec *recorder
	// compaction is what compaction did to each partition (compaction.go).
	compaction map[tpKey]*compactionLog
	// reads are the fetch writers (fetch_read.go), set up on first use.
	reads *fetchReads
	// loads are the coordinator load reads (coordinator_load.go), set up
	// on first use.
	loads *coordinatorLoads
}

type runPhase int8

const (
	phaseFaulty runPhase = iota
	phaseHealing
	phaseDone
)

// newWorld builds the cluster; nothing runs until the events do.
func newWorld(opts Options) *World {
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	if opts.DurationMs <= 0 {
		opts.DurationMs = 60_000
	}
	w := &World{opts: opts, timing: defaultTiming(), traceHash: sha256.New(), convergedAtMs: -1}
	if opts.Profile != nil {
		w.profile = *opts.Profile
	} else {
		w.profile = DrawProfile(opts.Seed)
	}
	switch lb := w.profile.LeaderBalanceEveryMs; {
	case lb < 0:
		w.timing.leaderBalanceMs = 0
	case lb > 0:
		w.timing.leaderBalanceMs = int64(lb)
	default:
		w.timing.leaderBalanceMs = drawLeaderBalance(opts.Seed)
	}
	w.rngFaults = newRand(opts.Seed, streamFaults)
	w.rngWorkload = newRand(opts.Seed, streamWorkload)
	w.rngTimestamps = newRand(opts.Seed, streamTimestamps)
	w.logAppendTimeTopics = map[string]bool{}
	w.rngDisk = newRand(opts.Seed, streamDisk)
	w.rngSlowDisk = newRand(opts.Seed, streamSlowDisk)
	w.rngSlowLeader = newRand(opts.Seed, streamSlowLeader)
	w.rngCheckpointLoss = newRand(opts.Seed, streamCheckpointLoss)
	w.rngMetadataLogLoss = newRand(opts.Seed, streamMetadataLogLoss)
	w.rngMembership = newRand(opts.Seed, streamMembership)
	w.ids = entropy(opts.Seed, streamIDs)
	w.net = newNetwork(w, newRand(opts.Seed, streamNetwork))
	w.net.dropP, w.net.dupP, w.net.meanDelayMs = w.profile.DropP, w.profile.DupP, w.profile.MeanDelayMs
	w.staticConfigs = map[string]string{"min.insync.replicas": "1", "unclean.leader.election.enable": "false"}
	w.hist = newHistory()
	w.lossEra = map[tpKey]int{}
	w.stateLossEra = map[tpKey]int{}
	w.stateLostMs = map[tpKey]int64{}
	w.checks = newServerChecks(w)
	w.groupChecks = newGroupChecks(w)
	w.txn = newTxnWorld(w, opts.Nodes)
	for id := int32(1); id <= int32(opts.Nodes); id++ {
		w.nodes = append(w.nodes, newNode(w, id))
		if len(w.voters) < 3 {
			w.voters = append(w.voters, id)
		}
	}
	w.faults = newFaultInjector(w)
	if opts.HTML != nil {
		w.rec = newRecorder()
	}
	return w
}

// schedule runs fn at virtual time atMs (never before now).
func (w *World) schedule(atMs int64, fn func()) { w.queue.push(max(atMs, w.now), fn) }

// endpoint is the node or client of an id.
func (w *World) endpoint(id int32) endpoint {
	if id >= clientBase {
		return w.clients[id-clientBase]
	}
	return w.nodes[id-1]
}

func (w *World) node(id int32) *node { return w.nodes[id-1] }

// clientBase is the first client id; broker ids are below it.
const clientBase = 1000

func endpointName(id int32) string {
	if id >= clientBase {
		return fmt.Sprintf("c%d", id-clientBase+1)
	}
	return fmt.Sprintf("n%d", id)
}

// runUntil runs every event up to endMs, and leaves the clock there.
func (w *World) runUntil(endMs int64) {
	for !w.stopped && w.queue.len() > 0 && w.queue.peekMs() <= endMs {
		ev := w.queue.pop()
		w.now = ev.atMs
		w.events++
		ev.fn()
		w.rec.maybeSample(w)
	}
	if !w.stopped && w.now < endMs {
		w.now = endMs
	}
}

// guard runs f, turning a panic of a core (or of the simulator) into a
// violation, as supervision turns one into an offline partition.
func (w *World) guard(f func()) {
	defer func() {
		if r := recover(); r != nil {
			w.violation("panic", fmt.Sprintf("%v\n%s", r, debug.Stack()))
		}
	}()
	f()
}

// startCluster starts every node's process.
func (w *World) startCluster() {
	for _, n := range w.nodes {
		n := n
		at := int64(n.id-1) * 7
		if w.lateJoiner(n) {
			// A broker added to the running cluster: it registers then,
			// holds no replica until a reassignment moves one to it, and
			// joins the quorum as a learner (at the heal at the latest).
			at = int64(w.profile.LateJoinMs)
			w.timelinef("start: %s joins the cluster at %s", n.name(), fmtMs(at))
		}
		w.schedule(at, func() {
			if !n.up {
				w.restart(n)
			}
		})
	}
}

// lateJoiner says n is the broker the profile adds to the running cluster
// (Profile.LateJoinMs): the last of four or more.
func (w *World) lateJoiner(n *node) bool {
	return w.profile.LateJoinMs > 0 && len(w.nodes) >= 4 && int(n.id) == len(w.nodes)
}

// crash stops a node's process; a power loss also drops whatever its disk
// had not synced (vfs.Mem.Crash: files back to their last fsync, directory
// entries to their last directory sync, the last unsynced write torn).
func (w *World) crash(n *node, powerLoss bool, reason string) {
	if !n.up {
		return
	}
	if powerLoss {
		for k, end := range n.diskEnd {
			n.preCrashEnd[k] = max(n.preCrashEnd[k], end)
		}
		n.noteSyncedAtPowerLoss()
	} else {
		n.closeConnections()
	}
	n.stopProcess()
	w.stats.Crashes++
	kind := "process crash"
	if powerLoss {
		n.fs.Crash()
		w.loseCheckpoints(n)
		w.loseMetadataLog(n)
		n.boots++
		w.checks.powerLost(n.id)
		w.stats.PowerLosses++
		kind = "power loss"
	}
	if reason != "" {
		kind += ": " + reason
	}
	w.timelinef("fault: %s crashed (%s)", n.name(), kind)
	w.rec.begin(w.now, "down", n.name(), kind)
}

// restart starts a node's process again.
func (w *World) restart(n *node) {
	if n.up {
		return
	}
	if n.started {
		w.stats.Restarts++
		w.timelinef("fault: %s restarted", n.name())
	}
	w.rec.end(w.now, "down", n.name())
	n.started = true
	if err := n.start(); err != nil {
		n.stopProcess()
		if errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENOSPC) {
			w.timelinef("%s does not start: %v", n.name(), err)
			w.superviseRestart(n)
			return
		}
		w.violation("S9", fmt.Sprintf("%s cannot recover after a crash: %v", n.name(), err))
	}
}

// superviseRestart starts a process that stopped by itself (or could not
// start: its disk failed or was full) again 1 to 3 s later, as a process supervisor
// (systemd, Kubernetes) does, while faults still run; heal starts the rest.
func (w *World) superviseRestart(n *node) {
	w.schedule(w.now+1000+expMs(w.rngFaults, 2000), func() {
		if w.phase == phaseFaulty {
			w.restart(n)
		}
	})
}

func (w *World) pause(n *node) {
	if !n.up || n.paused {
		return
	}
	n.paused = true
	w.stats.Pauses++
	w.timelinef("fault: %s paused", n.name())
	w.rec.begin(w.now, "paused", n.name(), "paused")
}

func (w *World) resume(n *node) {
	if !n.up || !n.paused {
		return
	}
	n.paused = false
	w.timelinef("fault: %s resumed", n.name())
	w.rec.end(w.now, "paused", n.name())
	backlog := n.backlog
	n.backlog = nil
	for _, fn := range backlog {
		n.at(w.now, fn)
	}
	n.wakeAtMs = never
	n.at(w.now, func() {})
}

// violation records a broken guarantee; the run stops at the first.
func (w *World) violation(check, detail string) {
	v := Violation{Check: check, AtMs: w.now, Detail: detail}
	w.violations = append(w.violations, v)
	w.timelinef("VIOLATION %s", v)
	w.rec.mark(w.now, "violation", nil, "%s", v)
	w.stopped = true
}

// loss records a loss the guarantees allow.
func (w *World) loss(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	w.losses = append(w.losses, line)
	w.tracef("loss: %s", line)
}

// stateLost counts a loss the guarantees allow that may have taken
// committed batches from tp's leader (stateLossEra), and notes when.
func (w *World) stateLost(tp tpKey) {
	w.stateLossEra[tp]++
	w.stateLostMs[tp] = w.now
}

// lostCommitted says whether tp may have lost records its leader had
// committed: when its replicas promise them (serverChecks.promisesCommitted),
// only a loss that may take committed batches (stateLost) counts; when
// they do not, or no replica of tp is open, any loss the guarantees
// allow (lossEra) does.
func (w *World) lostCommitted(tp tpKey) bool {
	for _, n := range w.nodes {
		if h := n.replicas[tp]; h != nil && h.core != nil {
			if w.checks.promisesCommitted(h) {
				return w.stateLossEra[tp] > 0
			}
			break
		}
	}
	return w.lossEra[tp] > 0
}

// tracef adds a line to the event log.
func (w *World) tracef(format string, args ...any) {
	b := w.traceBuf[:0]
	b = appendMs(b, w.now)
	b = append(b, ' ')
	b = fmt.Appendf(b, format, args...)
	b = append(b, '\n')
	w.traceBuf = b
	w.writeTrace(b)
}

// writeTrace adds a line to the event log's hash, and to its file if any.
func (w *World) writeTrace(line []byte) {
	w.traceHash.Write(line)
	w.traceLines++
	if w.opts.Trace != nil {
		_, _ = w.opts.Trace.Write(line)
	}
}

// timelinef adds a line to the readable timeline (and to the event log).
func (w *World) timelinef(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	w.tracef("%s", line)
	w.rec.line(w.now, line)
	if w.injecting != nil && strings.HasPrefix(line, "fault: ") {
		if w.injecting.What != "" {
			w.injecting.What += "; "
		}
		w.injecting.What += strings.TrimPrefix(line, "fault: ")
	}
	if w.opts.Timeline != nil {
		fmt.Fprintf(w.opts.Timeline, "%10s  %s\n", fmtMs(w.now), line)
	}
}

func appendMs(b []byte, ms int64) []byte {
	b = strconv.AppendInt(b, ms/1000, 10)
	frac := ms % 1000
	b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	return b
}

// fmtMs prints a virtual time as seconds.
func fmtMs(ms int64) string { return string(appendMs(nil, ms)) + "s" }

// report sums the run up.
func (w *World) report() *Report {
	return &Report{
		Seed: w.opts.Seed, Nodes: w.opts.Nodes, DurationMs: w.opts.DurationMs, Plant: w.opts.Plant, Profile: w.profile, ProfileName: w.opts.ProfileName,
		Violations: w.violations, TraceHash: hex.EncodeToString(w.traceHash.Sum(nil)), TraceLines: w.traceLines,
		SimulatedMs: w.now, Events: w.events, Stats: w.stats, Losses: w.losses, ConvergedAtMs: w.convergedAtMs,
		Faults: w.faultLog, LimitFaults: w.opts.LimitFaults, MaxFaults: w.opts.MaxFaults, SkipFaults: w.opts.SkipFaults,
		AskEpochFirst: w.opts.AskEpochFirst,
	}
}

// Summary prints a report for people.
func (r *Report) Summary() string {
	var b strings.Builder
	s := r.Stats
	fmt.Fprintf(&b, "seed %d, %d nodes, %s of faults, plant %s\n", r.Seed, r.Nodes, fmtMs(r.DurationMs), r.Plant)
	fmt.Fprintf(&b, "simulated %s in %d events; trace %d lines, sha256 %s\n", fmtMs(r.SimulatedMs), r.Events, r.TraceLines, r.TraceHash)
	fmt.Fprintf(&b, "operations: %d sends (%d ok, %d acks=all ok, %d failed, %d unknown), %d polls reading %d records\n",
		s.Sends, s.SendsOK, s.SendsAcksAllOK, s.SendsFailed, s.SendsInfo, s.Polls, s.RecordsRead)
	if s.Transactions > 0 {
		fmt.Fprintf(&b, "transactions: %d (%d committed, %d aborted, %d unknown)\n", s.Transactions, s.TxnCommits, s.TxnAborts, s.TxnUnknown)
		if s.TxnBatchesPipelined > 0 {
			fmt.Fprintf(&b, "pipelined transactional batches: %d (%d refused as out of order behind an unresolved batch and retried, %d of them appended; %d refused behind a batch waiting for its verification; %d transactions failed out of order)\n",
				s.TxnBatchesPipelined, s.TxnBatchesRefusedRetried, s.TxnBatchesRetriedOK, s.VerificationSeqRefusals, s.TxnOutOfOrderFailures)
		}
	}
	if s.IdempotentBatchesPipelined > 0 {
		fmt.Fprintf(&b, "pipelined idempotent batches: %d (%d refused as out of order behind an unresolved batch and retried, %d of them appended; %d epochs bumped by the producer)\n",
			s.IdempotentBatchesPipelined, s.IdempotentBatchesRefusedRetried, s.IdempotentBatchesRetriedOK, s.IdempotentEpochBumps)
	}
	if s.IdempotentResets > 0 {
		fmt.Fprintf(&b, "idempotent producers reset by a refusal for their producer (as franz-go: new epoch or id, nothing failed): %d, sending %d values again\n",
			s.IdempotentResets, s.IdempotentValuesResent)
	}
	if s.OutOfOrderLost+s.OutOfOrderDeposed+s.OutOfOrderRewound+s.OutOfOrderUnexplained > 0 {
		fmt.Fprintf(&b, "%s\n", outOfOrderSummary(s))
	}
	fmt.Fprintf(&b, "cluster: %d topics created, %d partitions added, %d controller changes, %d leader changes, %d ISR changes, %d truncations, %d replicas offline (%d started again after a backoff), %d compactions (%d records removed)\n",
		s.TopicsCreated, s.PartitionsAdded, s.ControllerChanges, s.LeaderChanges, s.ISRChanges, s.Truncations, s.OfflineReplicas, s.OfflineRetries, s.Compactions, s.RecordsCompacted)
	if s.ELRElections+s.LastKnownELRElections+s.CleanShutdownRegistrations > 0 {
		fmt.Fprintf(&b, "eligible leader replicas: %d leaders elected from the ELR, %d from the last known ELR, %d registrations after a clean shutdown\n",
			s.ELRElections, s.LastKnownELRElections, s.CleanShutdownRegistrations)
	}
	fmt.Fprintf(&b, "faults: %d crashes (%d power losses), %d controlled shutdowns, %d restarts, %d pauses, %d partitions, %d link faults, %d clock jumps, %d disk faults (%d I/O errors), %d false suspicions\n",
		s.Crashes, s.PowerLosses, s.ControlledShutdowns, s.Restarts, s.Pauses, s.Partitions, s.LinkFaults, s.ClockJumps, s.DiskFaults, s.DiskErrors, s.FalseSuspicions)
	if s.SkewedTimestamps > 0 || r.Profile.LogAppendTimeShare > 0 {
		fmt.Fprintf(&b, "timestamps: %d values sent with a skewed timestamp, %d attempts refused as INVALID_TIMESTAMP, LogAppendTime share %.0f%%\n",
			s.SkewedTimestamps, s.TimestampRefusals, 100*r.Profile.LogAppendTimeShare)
	}
	if limit := driftLimit(r.Profile, r.Plant); limit > 0 {
		fmt.Fprintf(&b, "clocks: drift up to ±%.1f%%, %d rate changes\n", float64(limit)/10, s.ClockDrifts)
	}
	if s.CheckpointsLost > 0 {
		fmt.Fprintf(&b, "recovery points: %d checkpoints of compacted partitions lost or damaged by power losses\n", s.CheckpointsLost)
	}
	if s.MetadataLogsLost > 0 {
		fmt.Fprintf(&b, "metadata logs: %d of broker-only nodes lost whole by power losses\n", s.MetadataLogsLost)
	}
	if s.DataWipes > 0 {
		fmt.Fprintf(&b, "data wipes: %d nodes (%d of them voters) started again with an empty data directory\n", s.DataWipes, s.VoterDataWipes)
	}
	if s.ClusterDowns > 0 {
		fmt.Fprintf(&b, "cluster downs: %d stops of every node at once, each node a controlled shutdown\n", s.ClusterDowns)
	}
	if s.MemberCrashes > 0 {
		fmt.Fprintf(&b, "group members: %d crashed between polls and started again as new members\n", s.MemberCrashes)
	}
	if s.ClassicJoinsCapped > 0 {
		fmt.Fprintf(&b, "classic groups: %d joins subscribed to the first %d of more topics\n", s.ClassicJoinsCapped, classicMaxTopics)
	}
	fmt.Fprintf(&b, "network: %d messages, %d dropped, %d duplicated, %d cut, %d RPC timeouts\n",
		s.Messages, s.MessagesDropped, s.MessagesDuplicated, s.MessagesCut, s.RPCTimeouts)
	if s.Reassignments+s.PreferredElections > 0 {
		fmt.Fprintf(&b, "operator: %d reassignments asked (%d taken, %d ended after moving replicas), %d preferred leader elections asked\n",
			s.Reassignments, s.ReassignmentsStarted, s.ReassignmentsEnded, s.PreferredElections)
	}
	if s.MinISRChanges > 0 {
		fmt.Fprintf(&b, "operator: %d min.insync.replicas settings\n", s.MinISRChanges)
	}
	if s.Unregistrations > 0 {
		fmt.Fprintf(&b, "operator: %d brokers unregistered while down (%d taken)\n", s.Unregistrations, s.UnregistrationsTaken)
	}
	if s.Clogs > 0 {
		fmt.Fprintf(&b, "swizzle-clogs: %d (%d messages held)\n", s.Clogs, s.MessagesClogged)
	}
	if s.MetadataLags > 0 {
		fmt.Fprintf(&b, "metadata lags: %d (%d raft messages delayed; %d ISR changes asked by a lagging node, %d of them refused for a partition epoch it had not applied)\n",
			s.MetadataLags, s.MetadataMessagesLagged, s.LaggedAlterPartitions, s.LaggedAlterPartitionsRefused)
	}
	if s.SlowDisks > 0 {
		fmt.Fprintf(&b, "slow disks: %d (%d follower appends delayed, %d beyond the fetcher's outcome wait, the longest %s)\n",
			s.SlowDisks, s.SlowAppends, s.SlowAppendsPastWait, fmtMs(s.SlowAppendMaxMs))
		if s.SlowLeaderAppends > 0 {
			fmt.Fprintf(&b, "slow leader appends: %d (the longest %s; %d inputs of their partitions waited behind them, %d fetch reads and %d OffsetForLeaderEpoch partitions among them)\n",
				s.SlowLeaderAppends, fmtMs(s.SlowLeaderAppendMaxMs), s.SlowLeaderInputsHeld, s.SlowLeaderReadsHeld, s.SlowLeaderEpochAsksHeld)
		}
	}
	fmt.Fprintf(&b, "replica fetches: %d (%d given up for a partition new to its fetcher or late for it, %d of them dropped by the leader), %d fetch partitions answered from a view\n", s.ReplicaFetches, s.FetchesGivenUp, s.FetchesDropped, s.ViewReads)
	if s.EmptyStretches+s.ConsumerEmptyStretches+s.EmptyPrefixRaises+s.StretchFaultsPlayed > 0 {
		fmt.Fprintf(&b, "emptied stretches: %d empty batches appended by followers, %d read by consumers, %d log starts raised past an empty prefix, %d emptied-stretch faults played out\n",
			s.EmptyStretches, s.ConsumerEmptyStretches, s.EmptyPrefixRaises, s.StretchFaultsPlayed)
	}
	if s.StrayDirsRenamed > 0 {
		fmt.Fprintf(&b, "stray partition directories renamed aside: %d (%d of another topic of their name)\n", s.StrayDirsRenamed, s.StrayDirsOfOtherTopic)
	}
	if s.LearnerPolls > 0 {
		fmt.Fprintf(&b, "learners' raft polls: %d (%d of another voter than the leader known; %d held messages dropped by a full outbox)\n", s.LearnerPolls, s.LearnerPollsAway, s.LearnerMessagesDropped)
	}
	if s.TopicDeletionsAsked > 0 {
		fmt.Fprintf(&b, "topics deleted: %d asked, %d created again; %d polls by a topic id the broker did not hold\n", s.TopicDeletionsAsked, s.TopicsRecreated, s.UnknownTopicIDFetches)
	}
	if s.DeleteRecordsAsked > 0 {
		fmt.Fprintf(&b, "DeleteRecords: %d asked, %d acknowledged\n", s.DeleteRecordsAsked, s.DeleteRecordsAcked)
	}
	if s.UncleanToggles > 0 {
		fmt.Fprintf(&b, "operator: %d unclean.leader.election.enable settings\n", s.UncleanToggles)
	}
	if s.RetentionChanges > 0 {
		fmt.Fprintf(&b, "retention: %d settings, %d log starts raised\n", s.RetentionChanges, s.RetentionRaises)
	}
	if s.BrokerConfigChanges+s.TopicOverridesDeleted > 0 {
		fmt.Fprintf(&b, "broker-wide configs: %d set or deleted, %d topics' own values deleted\n", s.BrokerConfigChanges, s.TopicOverridesDeleted)
	}
	fmt.Fprintf(&b, "fetch reads: %d after their plan (%d after their replica changed, %d read other bytes than planned, %d short: connection closed)\n",
		s.FetchReads, s.FetchReadsRaced, s.FetchReadsChanged, s.FetchReadsBroken)
	fmt.Fprintf(&b, "coordinator loads: %d reads after their plan (%d after their replica changed, %d dropped: the coordinator stopped, %d short: it started over)\n",
		s.LoadReads, s.LoadReadsRaced, s.LoadReadsDropped, s.LoadReadsBroken)
	fmt.Fprintf(&b, "invariants checked: %d", s.InvariantsChecked)
	if r.Plant != PlantNone {
		fmt.Fprintf(&b, "; plant fired %d times", s.PlantFired)
	}
	b.WriteString("\n")
	if r.ConvergedAtMs >= 0 {
		fmt.Fprintf(&b, "converged after healing at %s\n", fmtMs(r.ConvergedAtMs))
	}
	if len(r.Losses) > 0 {
		fmt.Fprintf(&b, "losses the guarantees allow (%d):\n", len(r.Losses))
		for i, l := range r.Losses {
			if i == 10 {
				fmt.Fprintf(&b, "  ... and %d more\n", len(r.Losses)-10)
				break
			}
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	if len(r.Violations) == 0 {
		b.WriteString("no violations\n")
	}
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "VIOLATION %s\n", v)
	}
	return b.String()
}

// ReplayCommand is the command that replays the run.
func (r *Report) ReplayCommand() string {
	cmd := fmt.Sprintf("gregor sim run --seed %d --nodes %d --duration %dms", r.Seed, r.Nodes, r.DurationMs)
	if r.ProfileName != "" {
		cmd += " --profile " + r.ProfileName
	}
	if r.Plant != PlantNone {
		cmd += " --plant " + string(r.Plant)
	}
	if r.LimitFaults {
		cmd += fmt.Sprintf(" --faults %d", r.MaxFaults)
	}
	if len(r.SkipFaults) > 0 {
		cmd += " --skip-faults " + joinInts(r.SkipFaults)
	}
	if len(r.AskEpochFirst) > 0 {
		cmd += " --ask-epoch-first " + JoinNodeIDs(r.AskEpochFirst)
	}
	return cmd
}

// JoinNodeIDs prints node ids as the --ask-epoch-first flag takes them:
// separated by commas.
func JoinNodeIDs(ids []int32) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(int(id))
	}
	return strings.Join(parts, ",")
}

// checkNode checks the server invariants after an event of a node.
func (w *World) checkNode(n *node) {
	if !w.stopped {
		w.checks.node(n)
	}
}
