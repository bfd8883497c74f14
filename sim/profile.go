package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Plant is a bug the simulator can plant in its own shell, one at a time,
// to show that a checker catches it (CORRECTNESS.md H4). Plants live in the
// simulator only: production code carries none.
type Plant string

// The plants.
const (
	PlantNone Plant = ""
	// PlantSkipTruncation: followers keep their divergent tail (the shell
	// skips the truncation the replica core asks for, KIP-101).
	PlantSkipTruncation Plant = "skip-truncation"
	// PlantEarlyHW: the high watermark passes batches the ISR does not
	// have (the shell tells the leader a follower fetched from the
	// leader's log end offset before serving its real fetch).
	PlantEarlyHW Plant = "early-hw"
	// PlantUncleanElect: a leader from outside the ISR with unclean
	// election off (an operator's ElectLeaders UNCLEAN for every leaderless
	// partition).
	PlantUncleanElect Plant = "unclean-elect"
	// PlantDoubleOwner: two members own a partition in one epoch (the
	// coordinator's shell adds another member's partition to an
	// assignment it hands out at the same epoch).
	PlantDoubleOwner Plant = "double-owner"
	// PlantForgetSequence: a partition leader forgets a producer's
	// sequence (the shell strips the producer id and sequence from a
	// retried idempotent batch the partition holds already), so the retry
	// is appended again.
	PlantForgetSequence Plant = "forget-sequence"
	// PlantWrongMarker: an abort marker for a committed transaction (the
	// transaction coordinator's shell sends the first commit marker of
	// each WriteTxnMarkers as an abort).
	PlantWrongMarker Plant = "wrong-marker"
	// PlantClockDrift: the nodes' clocks drift by up to 15% either way,
	// beyond the 10% between two nodes that the broker lease and the
	// quorum's leadership hold allow for (clock.go): a broker's lease can
	// outlast the controller's fence of it (S10), or a leader's hold its
	// successor's election (S9).
	PlantClockDrift Plant = "clock-drift"
	// PlantCommitReturned: an auto-committing group member commits the
	// positions of the records its last poll returned, which its
	// application still processes (B21's misunderstanding: Kafka's
	// auto-commit commits those of the poll before). Swarms find it when
	// they draw auto-committing members and member crashes (B21's
	// scenario plays it on its own).
	PlantCommitReturned Plant = "commit-returned"
	// PlantDeleteEarly: a leader answers DeleteRecords as soon as its own
	// log start moved, without waiting for its followers' (the shell
	// answers before the core does): a follower that had not fetched the
	// new log start can be elected and serve the deleted records (S13,
	// Q15). Only profiles with DeleteRecords reach it (deleterecords).
	PlantDeleteEarly Plant = "delete-early"
	// PlantServeByName: a node serves a fetch by topic id (v13) from its
	// replica of the topic's name, whatever that replica's id: a consumer
	// of a deleted topic's id reads the records of the topic created
	// again under its name (S14). Only profiles that delete and create
	// topics again reach it (recreate; topic_recreate.go).
	PlantServeByName Plant = "serve-by-name"
	// PlantKeepDeleted: a node keeps the directory of a replica it
	// deleted (the shell skips the removal): a deleted topic's records
	// stay on its disk, under the name a new topic may take (S15).
	PlantKeepDeleted Plant = "keep-deleted"
	// PlantPollLeaderOnly: a learner polls the leader its raft knows
	// whatever quorum.LearnerPoll picks, so that, once that leader died or
	// was deposed, the new leader's messages, held for the learner's poll,
	// never reach it: its metadata stops (L1). Needs four nodes or more.
	PlantPollLeaderOnly Plant = "poll-leader-only"
	// PlantOffsetsOutliveTopic: the group coordinators' shell tells their
	// cores every topic it ever saw, under the first id it saw: a deleted
	// topic's offsets stay, and a topic created again under its name
	// inherits them (S16). Only profiles that delete and create topics
	// again reach it (recreate; topic_recreate_groups.go).
	PlantOffsetsOutliveTopic Plant = "offsets-outlive-topic"
	// PlantNoLeaderBalance: the controllers run without the periodic
	// preferred-leader election (auto.leader.rebalance.enable off, as the
	// simulator's did before production turned it on): a leadership a
	// fault moved off the preferred replica stays off it after the heal
	// (L4).
	PlantNoLeaderBalance Plant = "no-leader-balance"
	// PlantRetentionPastHW: retention is bounded by a replica's log end
	// offset instead of its high watermark: a leader deletes segments its
	// followers have not fetched, a follower those it fetched but the
	// partition has not committed (S17). Only profiles that set a
	// retention reach it (retention; retention.go).
	PlantRetentionPastHW Plant = "retention-past-hw"
	// PlantBrokerRetentionCompacted: a broker-wide log.retention.ms or
	// log.retention.bytes gives every topic a delete policy, compacted
	// ones too (__consumer_offsets, __transaction_state): retention
	// deletes their segments, and the offsets and transaction states in
	// them (S18). Only profiles that set broker-wide configs reach it
	// (brokerconfigs; broker_configs.go).
	PlantBrokerRetentionCompacted Plant = "broker-retention-compacted"
	// PlantWipeKeepsMarker: a wipe of a node's data directory keeps the
	// broker's shutdown marker (as if it lived outside the directory):
	// the node's next process registers as if it had stopped cleanly,
	// with the broker epoch of the process before, and the controller
	// keeps it in the ELR of the partitions it left, whose records it no
	// longer has (S5). Only profiles that wipe nodes reach it (wipe;
	// data_wipe.go).
	PlantWipeKeepsMarker Plant = "wipe-keeps-marker"
	// PlantStateAcksOne: a transaction coordinator appends to its
	// __transaction_state partition with acks=1 (Kafka's coordinator
	// appends with acks=all): a decision it acted on (markers written) can
	// be lost when its leader loses power or leadership before a follower
	// fetched it, and the next coordinator ends the transaction the other
	// way (Q10, Q5). Wipes and power losses of the partition's replicas
	// happen in the same runs, so the transaction checks must not excuse
	// a loss for any replica that lost records (wipe; data_wipe.go).
	PlantStateAcksOne Plant = "state-acks-one"
	// PlantReadOpen: a node reads a read_committed consumer's fetch up to
	// the high watermark instead of the last stable offset (its answer
	// still lists the aborted transactions among the records): records of
	// open transactions reach read_committed consumers and copiers (Q6;
	// Q5 only when such a transaction later aborts).
	PlantReadOpen Plant = "read-open"
)

// String is the plant's name, "none" for none.
func (p Plant) String() string {
	if p == PlantNone {
		return "none"
	}
	return string(p)
}

// Plants lists every plant.
func Plants() []Plant {
	return []Plant{PlantSkipTruncation, PlantEarlyHW, PlantUncleanElect, PlantDoubleOwner, PlantForgetSequence, PlantWrongMarker,
		PlantCommitReturned, PlantClockDrift, PlantDeleteEarly, PlantServeByName, PlantKeepDeleted, PlantPollLeaderOnly, PlantOffsetsOutliveTopic,
		PlantNoLeaderBalance, PlantRetentionPastHW, PlantBrokerRetentionCompacted, PlantWipeKeepsMarker, PlantStateAcksOne, PlantReadOpen}
}

// ParsePlant reads a plant's name ("" and "none" are none).
func ParsePlant(s string) (Plant, error) {
	if s == "" || s == "none" {
		return PlantNone, nil
	}
	for _, p := range Plants() {
		if string(p) == s {
			return p, nil
		}
	}
	names := make([]string, 0, len(Plants()))
	for _, p := range Plants() {
		names = append(names, string(p))
	}
	return PlantNone, fmt.Errorf("unknown plant %q (one of %s)", s, strings.Join(names, ", "))
}

// Profile is a run's fault and workload mix. Swarm testing draws a new one
// for each seed (DrawProfile), so that each seed stresses some faults hard
// and leaves others out. Intervals are means of exponential draws; zero
// turns a fault off.
type Profile struct {
	// The network's baseline: a message's mean delay beyond 1 ms, and the
	// shares of messages lost and duplicated.
	MeanDelayMs float64
	DropP, DupP float64

	// CrashEveryMs is the mean time between node crashes; PowerLossShare
	// the share of crashes that lose unsynced writes (and tear the last);
	// DownForMs the mean time a crashed node stays down.
	CrashEveryMs   float64
	PowerLossShare float64
	DownForMs      float64
	// PauseEveryMs and PauseForMs: processes stopped and continued.
	PauseEveryMs, PauseForMs float64
	// PartitionEveryMs and PartitionForMs: network partitions between
	// brokers (one node isolated, a clean split, one-way cuts, a bridge).
	PartitionEveryMs, PartitionForMs float64
	// LinkFaultEveryMs: one directed link loses, duplicates and delays
	// far more than the baseline for a while.
	LinkFaultEveryMs float64
	// ClientCutEveryMs: a client loses its links to one broker for a while.
	ClientCutEveryMs float64
	// ClockJumpEveryMs: a node's wall clock jumps by up to an hour either
	// way (its monotonic clock does not).
	ClockJumpEveryMs float64
	// ClockDriftPermille: each node's clocks, monotonic and wall, run fast
	// or slow by up to this many thousandths (at most 50, the cores'
	// margin: clock.go), drawn per node at the start; ClockDriftEveryMs:
	// a node's rate is drawn again.
	ClockDriftPermille, ClockDriftEveryMs float64
	// StarveISREveryMs: the followers of a partition stop reaching its
	// leader (one-way cuts) until the ISR shrinks to the leader, which
	// then crashes (CORRECTNESS.md B1, B6).
	StarveISREveryMs float64
	// ClogEveryMs and ClogForMs: a swizzle-clog (faults_clog.go) clogs a
	// few nodes one by one, so that their links hold what they carry for
	// about ClogForMs, then unclogs them one by one and delivers it late.
	ClogEveryMs, ClogForMs float64
	// ReassignEveryMs: the operator moves a partition's replicas, cancels a
	// reassignment or asks for preferred leader elections
	// (faults_operator.go).
	ReassignEveryMs float64
	// MinISREveryMs: the operator sets a topic's min.insync.replicas
	// (faults_operator.go).
	MinISREveryMs float64
	// UncleanToggleEveryMs: the operator turns a topic's
	// unclean.leader.election.enable on or off (faults_operator.go).
	UncleanToggleEveryMs float64
	// UnregisterEveryMs: the operator unregisters a broker whose process
	// is down (faults_operator.go); it registers again when it starts.
	UnregisterEveryMs float64
	// DiskFaultEveryMs, DiskFaultForMs, DiskFaultP: a node's writes and
	// fsyncs fail with EIO (each with probability DiskFaultP) for a while.
	DiskFaultEveryMs, DiskFaultForMs, DiskFaultP float64
	// LateJoinMs: with four nodes or more, the last starts only then (at
	// the heal at the latest), a broker added to the running cluster that
	// reassignments may move replicas to.
	LateJoinMs float64
	// DiskFaultAllOps: the EIO disk faults fail every operation, reads,
	// opens, renames and removals too, not only writes and fsyncs.
	DiskFaultAllOps bool
	// The membership failure detector: each second the controller hears
	// of a broker it cannot reach with probability DetectP, and of one it
	// can with probability FalseSuspicionP.
	DetectP, FalseSuspicionP float64

	// The workload: producers (AcksAllShare of them with acks=all, the rest
	// acks=1) sending a value every ProduceEveryMs each, consumers, the
	// topics at start, topics created and partitions added during the run.
	Producers           int
	AcksAllShare        float64
	ProduceEveryMs      float64
	Consumers           int
	Topics              int
	Partitions          int
	MinISR              int
	UncleanShare        float64
	CreateTopicEveryMs  float64
	AddPartitionEveryMs float64
	// GroupMembers consume in KIP-848 consumer groups (three in g0, then
	// g1),
	// committing their positions; zero: no groups (and no
	// __consumer_offsets).
	GroupMembers int
	// ClassicGroups: the groups use the classic protocol (cg0, cg1).
	ClassicGroups bool
	// AutoCommitShare of the group members (0, half: every other one, or
	// all) commit automatically (enable.auto.commit, B21;
	// client_autocommit.go): an application behind their polls processes
	// each poll's records for ProcessMs before the member polls that
	// partition again, and they commit what it processed, the positions
	// of the polls before, as Kafka's auto-commit does.
	AutoCommitShare float64
	ProcessMs       float64
	// MemberCrashEveryMs: a group member's process crashes between polls
	// and starts again a few seconds later as a new member (faults.go,
	// memberCrash).
	MemberCrashEveryMs float64
	// CompactedShare of the workload topics are compacted
	// (cleanup.policy=compact, small segments), their records keyed by a
	// few keys; __consumer_offsets always is.
	CompactedShare float64
	// EmptyStretchEveryMs: the emptied-stretch fault on its own topic
	// (empty_stretch_fault.go): a leader's log ends in a stretch its
	// compaction emptied, after an unclean election, while a follower lags
	// inside it. Needs three nodes.
	EmptyStretchEveryMs float64
	// ShutdownEveryMs: a node shuts down gracefully (a controlled
	// shutdown: the controller moves its leadership away first) and
	// starts again after about DownForMs (at least a second).
	ShutdownEveryMs float64

	// IdempotentProducers send like the producers, with idempotence
	// (acks=all, producer ids and sequences).
	IdempotentProducers int
	// TxnProducers run transactions (tx0, tx1, ...), one every four
	// ProduceEveryMs (at least 200 ms) on average; Copiers copy partition
	// i of t0 to the topic cp in transactions (consume-transform-produce,
	// groups copy0, copy1, ...). A transaction aborts with probability
	// TxnAbortP; its timeout is TxnTimeoutMs.
	TxnProducers int
	Copiers      int
	TxnAbortP    float64
	TxnTimeoutMs float64
	// ReadCommitted makes the first of the consumers read with
	// read_committed.
	ReadCommitted bool
	// TxnV2Share of the transactional producers and copiers speak KIP-890
	// part 2 (0, half or all; client_txn.go).
	TxnV2Share float64
	// TxnPipeline, when above 1, lets each transactional producer keep up
	// to that many batches in flight per partition once the partition
	// answered its producer id and epoch, as franz-go does, and spread a
	// transaction's values over up to TxnPipeline+1 batches per partition
	// (client_txn_pipeline.go). 0 or 1: one batch per partition, sent one
	// at a time.
	TxnPipeline int
	// IdempotentPipeline, when above 1, lets each idempotent producer keep
	// up to that many batches (of 1 or 2 values) in flight per partition,
	// as franz-go does (max.in.flight 5; client_idempotent_pipeline.go).
	// 0 or 1: one value at a time.
	IdempotentPipeline int
	// IdempotentEpochBump: an idempotent producer with a pipeline whose
	// producer id failed bumps its epoch itself, with sequences from 0
	// again (KIP-360, as the Java client does), instead of asking for a
	// new producer id.
	IdempotentEpochBump bool

	// SlowWriteP is the share of fetch answers whose connection writer is
	// slow (behind earlier responses on its connection, or a client
	// reading its socket slowly): their records are read, and the answer
	// sent, SlowWriteMs later on average (fetch_read.go).
	SlowWriteP, SlowWriteMs float64
	// TimestampSkewShare of the producers' values carry a timestamp far
	// from their clock: half of them days to years in the past (within
	// message.timestamp.before.max.ms, unbounded), half up to two hours in
	// the future (beyond message.timestamp.after.max.ms, an hour, half of
	// the time: refused). LogAppendTimeShare of the workload topics have
	// message.timestamp.type=LogAppendTime (timestamps.go).
	TimestampSkewShare, LogAppendTimeShare float64

	// SlowLoadP is the share of coordinator load reads that wait for a
	// slow disk or a busy partition: they are read SlowLoadMs after their
	// plan on average (coordinator_load.go).
	SlowLoadP, SlowLoadMs float64

	// SlowDiskEveryMs and SlowDiskForMs: a node's disk is slow for a
	// while, each follower append there taking SlowDiskMs on average, one
	// after the other (slow_disk.go).
	SlowDiskEveryMs, SlowDiskForMs, SlowDiskMs float64
	// SlowLeaderAppends: a slow disk holds leaders' appends too, each a
	// drawn time, the partition's other work waiting (slow_leader.go).
	SlowLeaderAppends bool
	// CheckpointLossShare: a power loss removes or damages the
	// recovery-point checkpoint of each compacted partition on the node
	// with this probability (checkpoint_loss.go), so that recovery
	// rescans every segment of a compacted log.
	CheckpointLossShare float64
	// MetadataLogLossShare: a power loss of a broker-only node (a raft
	// learner; with four nodes or more) takes its whole metadata log with
	// this probability, as a wiped or replaced disk does: the node
	// restarts with an empty log while the quorum's leader remembers what
	// it acknowledged (metadata_log_loss.go).
	MetadataLogLossShare float64
	// MetadataLagEveryMs, MetadataLagForMs, MetadataLagMs: the metadata
	// log reaches one node MetadataLagMs late on average (up to twice
	// that), for about
	// MetadataLagForMs, while its RPCs still flow (metadata_lag.go).
	MetadataLagEveryMs, MetadataLagForMs, MetadataLagMs float64
	// MetadataLagStarves: with each metadata lag, a follower of a
	// partition the lagging node leads stops reaching it (its replication
	// link cut) for longer than replica.lag.time.max.ms, so that the
	// leader asks to shrink the ISR from its old image.
	MetadataLagStarves bool
	// DeleteRecordsEveryMs: the admin deletes the records of a partition
	// of a topic of its own below an offset (DeleteRecords,
	// delete_records.go).
	DeleteRecordsEveryMs float64
	// RetentionEveryMs: the operator sets the retention of a topic of
	// the admin's (retention.bytes or retention.ms over small segments,
	// or none) this often on average (retention.go).
	RetentionEveryMs float64
	// BrokerConfigEveryMs: the operator sets (or deletes) a broker-wide
	// default, min.insync.replicas, unclean.leader.election.enable,
	// log.retention.ms or log.retention.bytes, or deletes a workload
	// topic's own min.insync.replicas or unclean.leader.election.enable,
	// this often on average (broker_configs.go). Only the brokerconfigs
	// profile sets it: drawn profiles do not, so that the drawn
	// regression seeds (TestSwarmRegressions) keep their runs.
	BrokerConfigEveryMs float64
	// WipeEveryMs: a node's process crashes and the node starts again
	// with an empty data directory, metadata log and partition logs
	// alike, this often on average, one node at a time and only while the
	// other voters form a quorum (data_wipe.go). Only the wipe profile
	// sets it, so that the drawn regression seeds keep their runs.
	WipeEveryMs float64
	// ClusterDownEveryMs: the operator stops every node at once, each a
	// controlled shutdown, and starts them all again about DownForMs
	// after the last stopped (cluster_down.go). Only the clusterdown
	// profile sets it, so that the drawn regression seeds keep their
	// runs.
	ClusterDownEveryMs float64
	// RecreateTopicEveryMs: the admin deletes a topic of its own (by its
	// id) and, once no running node holds it, creates it again under its
	// name (topic_recreate.go).
	RecreateTopicEveryMs float64
	// LeaderBalanceEveryMs is the controllers'
	// leader.imbalance.check.interval (auto.leader.rebalance.enable, on in
	// production by default): every partition whose preferred replica is
	// active and in its ISR gets a preferred-leader election that often.
	// Zero draws it from the seed (drawLeaderBalance); negative turns it
	// off.
	LeaderBalanceEveryMs float64
}

// QuietProfile is a workload with no faults at all.
func QuietProfile() Profile {
	return Profile{MeanDelayMs: 1, DetectP: 0.5, Producers: 2, AcksAllShare: 1, ProduceEveryMs: 50, Consumers: 1,
		Topics: 1, Partitions: 2, MinISR: 2}
}

// CompactionProfile is a quiet workload on one compacted topic of two
// partitions, with crashes (half of them power losses) every 6 s and a
// controlled shutdown every 15 s: compaction runs on every replica while
// leaders move and logs are truncated and recovered. The emptied-stretch
// fault starts every 8 s (one attempt at a time) on a topic of its own.
func CompactionProfile() Profile {
	p := QuietProfile()
	p.CompactedShare, p.Topics, p.Partitions, p.Producers, p.ProduceEveryMs = 1, 1, 2, 3, 20
	p.GroupMembers, p.CrashEveryMs, p.PowerLossShare, p.DownForMs, p.ShutdownEveryMs = 2, 6000, 0.5, 3000, 15_000
	p.EmptyStretchEveryMs = 8000
	return p
}

// RecoveryProfile is the compaction profile whose power losses also remove
// or damage, half of the time, the recovery-point checkpoint of each
// compacted partition on the node (an operator's cleanup, a damaged
// file): its recovery rescans every segment of logs that compaction left
// with gaps, and two thirds of the crashes are power losses.
func RecoveryProfile() Profile {
	p := CompactionProfile()
	p.PowerLossShare, p.CheckpointLossShare, p.MetadataLogLossShare = 0.67, 0.5, 0.5
	return p
}

// ChurnProfile moves partitions while the cluster works: the operator
// reassigns a partition every 4 s (workload topics, __consumer_offsets and
// __transaction_state alike), sets a topic's min.insync.replicas every
// 10 s and unregisters a broker that is down every 15 s, swizzle-clogs hold nodes' messages every 10 s, and nodes crash
// (half of the crashes power losses) every 8 s, under a workload of
// acks=all and idempotent producers, transactions (pipelined, half of
// them KIP-890 part 2), copiers, a read_committed consumer and KIP-848
// group members over two topics of three partitions, one compacted.
func ChurnProfile() Profile {
	p := QuietProfile()
	p.Topics, p.Partitions, p.Producers, p.ProduceEveryMs, p.CompactedShare = 2, 3, 2, 50, 0.5
	p.CrashEveryMs, p.PowerLossShare, p.DownForMs = 8000, 0.5, 3000
	p.ReassignEveryMs, p.MinISREveryMs, p.ClogEveryMs, p.ClogForMs = 4000, 10_000, 10_000, 3000
	p.UnregisterEveryMs = 15_000
	p.GroupMembers, p.Consumers, p.ReadCommitted = 3, 2, true
	p.IdempotentProducers, p.IdempotentPipeline, p.TxnProducers, p.TxnPipeline, p.Copiers = 1, 3, 1, 3, 1
	p.TxnAbortP, p.TxnTimeoutMs, p.TxnV2Share = 0.1, 10_000, 0.5
	return p
}

// DiskProfile fails disks: every 5 s a node's disk fails every operation
// (reads, opens, renames, fsyncs...) with a probability of 0.3 for about
// 2 s, or fills up; nodes crash every 10 s (half of the crashes power
// losses) and shut down gracefully every 12 s, under acks=all and
// idempotent producers, transactions, a read_committed consumer and
// classic group members on a topic of two partitions and a compacted one.
func DiskProfile() Profile {
	p := QuietProfile()
	p.Topics, p.Partitions, p.CompactedShare, p.Producers, p.ProduceEveryMs = 2, 2, 0.5, 2, 50
	p.DiskFaultEveryMs, p.DiskFaultForMs, p.DiskFaultP, p.DiskFaultAllOps = 5000, 2000, 0.3, true
	p.CrashEveryMs, p.PowerLossShare, p.DownForMs, p.ShutdownEveryMs = 10_000, 0.5, 3000, 12_000
	p.GroupMembers, p.ClassicGroups, p.Consumers, p.ReadCommitted = 2, true, 1, true
	p.IdempotentProducers, p.TxnProducers, p.TxnAbortP, p.TxnTimeoutMs = 1, 1, 0.1, 10_000
	return p
}

// ClogProfile holds the messages of transactions and groups: every 4 s a
// swizzle-clog holds a few nodes' messages for about 6 s (EndTxn,
// AddPartitionsToTxn, markers, TxnOffsetCommit, joins and heartbeats
// delivered seconds late), clients lose their links to a broker every
// 10 s, and nodes crash every 15 s (a third of the crashes power losses),
// under pipelined transactional producers (half of them KIP-890 part 2),
// copiers, a read_committed consumer, idempotent producers and
// auto-committing KIP-848 group members that crash between polls, on two
// topics of three partitions.
func ClogProfile() Profile {
	p := QuietProfile()
	p.Topics, p.Partitions, p.Producers, p.ProduceEveryMs = 2, 3, 1, 100
	p.ClogEveryMs, p.ClogForMs, p.ClientCutEveryMs = 4000, 6000, 10_000
	p.CrashEveryMs, p.PowerLossShare, p.DownForMs = 15_000, 0.33, 3000
	p.GroupMembers, p.Consumers, p.ReadCommitted = 3, 1, true
	p.AutoCommitShare, p.ProcessMs, p.MemberCrashEveryMs = 0.5, 200, 10_000
	p.IdempotentProducers, p.IdempotentPipeline, p.TxnProducers, p.TxnPipeline, p.Copiers = 1, 3, 2, 3, 2
	p.TxnAbortP, p.TxnTimeoutMs, p.TxnV2Share = 0.15, 8000, 0.5
	return p
}

// DriftProfile runs every node's clocks fast or slow by up to 5% (the
// cores' margin: clock.go), drawn again for a node every 5 s, while the
// nodes are cut off from each other every 6 s for about 5 s (long enough
// for the controller to fence the cut-off ones and for the quorum to elect
// another leader), paused every 15 s and crash every 12 s, under acks=all
// and idempotent producers, transactions and KIP-848 and classic group
// members whose coordinators answer only under their broker lease.
func DriftProfile() Profile {
	p := QuietProfile()
	p.Topics, p.Partitions, p.Producers, p.ProduceEveryMs = 2, 2, 2, 50
	p.ClockDriftPermille, p.ClockDriftEveryMs = maxDriftPermille, 5000
	p.PartitionEveryMs, p.PartitionForMs = 6000, 5000
	p.PauseEveryMs, p.PauseForMs = 15_000, 3000
	p.CrashEveryMs, p.PowerLossShare, p.DownForMs = 12_000, 0.3, 3000
	p.DetectP = 1
	p.GroupMembers, p.Consumers, p.ReadCommitted = 3, 1, true
	p.IdempotentProducers, p.TxnProducers, p.Copiers = 1, 1, 1
	p.TxnAbortP, p.TxnTimeoutMs = 0.1, 10_000
	return p
}

// TimestampsProfile plays record timestamps: three producers, 30% of whose
// values carry a timestamp days to years in the past or up to two hours
// in the future (refused beyond an hour of the leader's clock), on two
// topics of two partitions, half of the topics with
// message.timestamp.type=LogAppendTime and half compacted; nodes' wall
// clocks jump every 8 s and every clock drifts by up to 5%, nodes crash
// every 10 s (a third of the crashes power losses) and shut down
// gracefully every 20 s, under idempotent and transactional producers and
// a read_committed consumer (timestamps.go, Q13).
func TimestampsProfile() Profile {
	p := QuietProfile()
	p.Topics, p.Partitions, p.Producers, p.ProduceEveryMs, p.AcksAllShare = 2, 2, 3, 40, 0.67
	p.TimestampSkewShare, p.LogAppendTimeShare, p.CompactedShare = 0.3, 0.5, 0.5
	p.ClockJumpEveryMs, p.ClockDriftPermille, p.ClockDriftEveryMs = 8000, maxDriftPermille, 10_000
	p.CrashEveryMs, p.PowerLossShare, p.DownForMs, p.ShutdownEveryMs = 10_000, 0.33, 3000, 20_000
	p.Consumers, p.ReadCommitted = 2, true
	p.IdempotentProducers, p.TxnProducers, p.TxnAbortP, p.TxnTimeoutMs = 1, 1, 0.1, 10_000
	return p
}

// SlowDiskProfile makes disks slow: every 3 s a node's follower appends
// take 250 ms on average for about 4 s (often beyond the fetcher's
// outcome wait of 100 ms, so that its next Fetch goes without the
// partition still writing), under acks=all and idempotent producers
// (pipelined), transactions, copiers, a read_committed consumer and
// KIP-848 group members on two topics of three partitions, one of them
// quiet but for a producer every 500 ms; nodes crash every 20 s (a third
// of the crashes power losses) and the network is cut every 15 s.
func SlowDiskProfile() Profile {
	p := QuietProfile()
	p.Topics, p.Partitions, p.Producers, p.ProduceEveryMs = 2, 3, 3, 30
	p.SlowDiskEveryMs, p.SlowDiskForMs, p.SlowDiskMs = 3000, 4000, 250
	p.CrashEveryMs, p.PowerLossShare, p.DownForMs = 20_000, 0.33, 3000
	p.PartitionEveryMs, p.PartitionForMs = 15_000, 3000
	p.GroupMembers, p.Consumers, p.ReadCommitted = 2, 1, true
	p.IdempotentProducers, p.IdempotentPipeline, p.TxnProducers, p.TxnPipeline, p.Copiers = 1, 3, 1, 3, 1
	p.TxnAbortP, p.TxnTimeoutMs = 0.1, 10_000
	return p
}

// SlowLeaderProfile is the slowdisk profile whose slow disks hold
// leaders' appends too (slow_leader.go): produces, fetch reads and
// everything else of a partition wait behind its leader's append.
func SlowLeaderProfile() Profile {
	p := SlowDiskProfile()
	p.SlowLeaderAppends = true
	return p
}

// MetadataLagProfile plays metadata that reaches one node late while its
// RPCs still flow (metadata_lag.go): every 8 s the raft messages to a
// node that does not lead the quorum arrive about 10 s late for about
// 20 s, and a follower of a partition it leads stops fetching from it for
// longer than replica.lag.time.max.ms, while the operator sets a topic's
// min.insync.replicas (2 or 3) every 5 s, partitions and one-way cuts
// come every 15 s, and nodes crash every 6 s (process crashes only: every
// acknowledged acks=all write must survive, D1), under acks=all and
// idempotent producers and a consumer on two topics of three partitions.
// A leader behind on metadata asks for ISR changes against the partition
// epochs and min.insync.replicas of its old image
// (cluster/testdata/controller/elr_min_isr_raised.txt).
func MetadataLagProfile() Profile {
	p := QuietProfile()
	p.Topics, p.Partitions, p.Producers, p.ProduceEveryMs, p.DetectP = 2, 3, 3, 30, 1
	p.MetadataLagEveryMs, p.MetadataLagForMs, p.MetadataLagMs, p.MetadataLagStarves = 8000, 20_000, 10_000, true
	p.MinISREveryMs = 5000
	p.PartitionEveryMs, p.PartitionForMs = 15_000, 5000
	p.CrashEveryMs, p.DownForMs = 6000, 5000
	p.IdempotentProducers, p.IdempotentPipeline = 1, 3
	return p
}

// MixedProfileName is the profile `--profile mixed` names: each seed plays
// one of the named profiles or a drawn one (MixedProfile).
const MixedProfileName = "mixed"

// MixedProfile is the profile seed plays under --profile mixed: one of
// every named profile (slowleader and metalag among them, which the drawn
// profile never turns on) or the profile DrawProfile draws for it, picked
// from a stream of its own; then, one time in three, the metadata lag of
// metalag on top, if it is not on. It says which it picked. The named
// profiles and DrawProfile are unchanged by it: a seed that plays one of
// them here plays it as under that name, but for the lag on top.
func MixedProfile(seed uint64) (Profile, string) {
	r := newRand(seed, streamMixed)
	names := slices.DeleteFunc(slices.Sorted(maps.Keys(NamedProfiles())), func(s string) bool {
		return s == "recreate" || s == "retention" || s == "brokerconfigs" || s == "wipe" || s == "clusterdown"
	})
	names = append(names, "drawn")
	pick := names[r.IntN(len(names))]
	var p Profile
	if pick == "drawn" {
		p = DrawProfile(seed)
	} else {
		p = NamedProfiles()[pick]()
	}
	if r.IntN(3) == 0 && p.MetadataLagEveryMs == 0 {
		lag := MetadataLagProfile()
		p.MetadataLagEveryMs, p.MetadataLagForMs, p.MetadataLagMs = lag.MetadataLagEveryMs, lag.MetadataLagForMs, lag.MetadataLagMs
		p.MetadataLagStarves = lag.MetadataLagStarves
		pick += "+metadata-lag"
	}
	if pick != "drawn" && p.RecreateTopicEveryMs == 0 {
		if p.RecreateTopicEveryMs = drawRecreateTopic(seed); p.RecreateTopicEveryMs > 0 {
			pick += "+recreate-topic"
		}
	}
	if pick != "drawn" && p.RetentionEveryMs == 0 && p.UncleanToggleEveryMs == 0 {
		if p.RetentionEveryMs, p.UncleanToggleEveryMs = drawConfigChanges(seed); p.RetentionEveryMs > 0 {
			pick += "+configs"
		}
	}
	return p, pick
}

// ProfileNames lists the names --profile takes: the named profiles and
// mixed.
func ProfileNames() []string {
	return append(slices.Sorted(maps.Keys(NamedProfiles())), MixedProfileName)
}

// ProfileByName is the profile a name of ProfileNames plays for seed.
func ProfileByName(name string, seed uint64) (Profile, bool) {
	if name == MixedProfileName {
		p, _ := MixedProfile(seed)
		return p, true
	}
	named, ok := NamedProfiles()[name]
	if !ok {
		return Profile{}, false
	}
	return named(), true
}

// NamedProfiles are the profiles `gregor sim run|swarm --profile NAME`
// plays instead of one drawn from each seed.
func NamedProfiles() map[string]func() Profile {
	return map[string]func() Profile{"quiet": QuietProfile, "compaction": CompactionProfile, "churn": ChurnProfile, "disk": DiskProfile,
		"clog": ClogProfile, "drift": DriftProfile, "timestamps": TimestampsProfile, "slowdisk": SlowDiskProfile, "slowleader": SlowLeaderProfile,
		"recovery": RecoveryProfile, "metalag": MetadataLagProfile, "deleterecords": DeleteRecordsProfile, "recreate": RecreateProfile,
		"retention": RetentionProfile, "brokerconfigs": BrokerConfigsProfile, "wipe": WipeProfile,
		"clusterdown": ClusterDownProfile}
}

// DrawProfile draws the profile of a seed: every fault is on or off, and
// its rate, independently (swarm testing).
func DrawProfile(seed uint64) Profile {
	r := newRand(seed, streamProfile)
	on := func(p float64) bool { return r.Float64() < p }
	between := func(lo, hi float64) float64 { return lo + r.Float64()*(hi-lo) }
	p := Profile{MeanDelayMs: between(0.5, 5), DetectP: between(0.3, 1)}
	if on(0.3) {
		p.DropP = between(0, 0.05)
	}
	if on(0.3) {
		p.DupP = between(0, 0.05)
	}
	if on(0.7) {
		p.CrashEveryMs, p.DownForMs = between(4000, 30000), between(500, 15000)
		if on(0.5) {
			p.PowerLossShare = between(0.2, 1)
		}
	}
	if on(0.4) {
		p.PauseEveryMs, p.PauseForMs = between(5000, 30000), between(200, 12000)
	}
	if on(0.7) {
		p.PartitionEveryMs, p.PartitionForMs = between(4000, 30000), between(1000, 25000)
	}
	if on(0.3) {
		p.LinkFaultEveryMs = between(3000, 20000)
	}
	if on(0.3) {
		p.ClientCutEveryMs = between(5000, 30000)
	}
	if on(0.3) {
		p.ClockJumpEveryMs = between(5000, 30000)
	}
	if on(0.2) {
		p.DiskFaultEveryMs, p.DiskFaultForMs, p.DiskFaultP = between(10000, 60000), between(100, 3000), between(0.05, 0.5)
	}
	if on(0.5) {
		p.StarveISREveryMs = between(5000, 20000)
	}
	if on(0.3) {
		p.FalseSuspicionP = between(0, 0.05)
	}
	p.Producers = 1 + r.IntN(3)
	p.AcksAllShare = []float64{1, 1, 0.5, 0}[r.IntN(4)]
	p.ProduceEveryMs = between(20, 200)
	p.Consumers = 1 + r.IntN(2)
	p.Topics = 1 + r.IntN(2)
	p.Partitions = 1 + r.IntN(3)
	p.MinISR = 2
	if on(0.15) {
		p.MinISR = 1
	}
	if on(0.2) {
		p.UncleanShare = 0.5
	}
	if on(0.4) {
		p.CreateTopicEveryMs = between(10000, 40000)
	}
	if on(0.4) {
		p.AddPartitionEveryMs = between(10000, 40000)
	}
	// Drawn last, so that the draws before keep what they drew before
	// groups came.
	if on(0.6) {
		p.GroupMembers = 1 + r.IntN(4)
	}
	p.ClassicGroups = on(0.4)
	if on(0.3) {
		p.ShutdownEveryMs = between(5000, 30000)
	}
	if on(0.4) {
		p.CompactedShare = 0.5
	}
	// Transactions and idempotence, drawn after everything before them.
	if on(0.5) {
		p.IdempotentProducers = 1 + r.IntN(2)
	}
	if on(0.5) {
		p.TxnProducers = 1 + r.IntN(2)
	}
	if on(0.35) {
		p.Copiers = 1 + r.IntN(2)
	}
	p.TxnAbortP = between(0.05, 0.3)
	p.TxnTimeoutMs = between(5000, 20000)
	p.ReadCommitted = on(0.5)
	// Slow fetch writers, drawn after everything before them.
	if on(0.3) {
		p.SlowWriteP, p.SlowWriteMs = between(0.01, 0.2), between(50, 1000)
	}
	// KIP-890 part 2 clients, drawn after everything before them.
	p.TxnV2Share = []float64{0, 0.5, 1}[r.IntN(3)]
	// Slow coordinator loads, drawn after everything before them.
	if on(0.3) {
		p.SlowLoadP, p.SlowLoadMs = between(0.05, 0.5), between(100, 3000)
	}
	// Pipelined transactional batches, drawn after everything before them.
	if on(0.6) {
		p.TxnPipeline = 3 + r.IntN(3)
	}
	// Pipelined idempotent batches, drawn after everything before them.
	if on(0.6) {
		p.IdempotentPipeline = 2 + r.IntN(4)
	}
	// Idempotent epoch bumps, drawn after everything before them.
	p.IdempotentEpochBump = on(0.5)
	// Auto-committing group members, drawn after everything before them.
	if on(0.5) {
		p.AutoCommitShare, p.ProcessMs = []float64{0.5, 1}[r.IntN(2)], between(20, 1000)
	}
	if on(0.5) {
		p.MemberCrashEveryMs = between(5000, 30000)
	}
	// Swizzle-clogs, drawn after everything before them.
	if on(0.4) {
		p.ClogEveryMs, p.ClogForMs = between(5000, 30000), between(500, 15000)
	}
	// Reassignments, drawn after everything before them.
	if on(0.4) {
		p.ReassignEveryMs = between(3000, 20000)
	}
	// min.insync.replicas settings, drawn after everything before them.
	if on(0.3) {
		p.MinISREveryMs = between(5000, 30000)
	}
	// Disk faults of every operation, drawn after everything before them.
	p.DiskFaultAllOps = on(0.5)
	// A broker added late, drawn after everything before them.
	if on(0.3) {
		p.LateJoinMs = between(3000, 40000)
	}
	// Unregistered brokers, drawn after everything before them.
	if on(0.3) {
		p.UnregisterEveryMs = between(5000, 30000)
	}
	// Skewed timestamps and LogAppendTime topics, drawn after everything
	// before them.
	if on(0.3) {
		p.TimestampSkewShare = between(0.05, 0.5)
	}
	if on(0.3) {
		p.LogAppendTimeShare = 0.5
	}
	// Clocks that drift, drawn after everything before them.
	if on(0.4) {
		p.ClockDriftPermille = float64(maxDriftPermille)
		if on(0.5) {
			p.ClockDriftPermille = between(1, maxDriftPermille)
		}
		if on(0.5) {
			p.ClockDriftEveryMs = between(5000, 30000)
		}
	}
	// Slow disks, drawn after everything before them.
	if on(0.3) {
		p.SlowDiskEveryMs, p.SlowDiskForMs, p.SlowDiskMs = between(3000, 30000), between(500, 10000), between(20, 600)
	}
	// DeleteRecords, drawn from a stream of its own.
	if d := newRand(seed, streamDeleteRecords); d.Float64() < 0.3 {
		p.DeleteRecordsEveryMs = 1000 + d.Float64()*9000
	}
	p.RetentionEveryMs, p.UncleanToggleEveryMs = drawConfigChanges(seed)
	p.RecreateTopicEveryMs = drawRecreateTopic(seed)
	return p
}

// drawRecreateTopic draws, from a stream of its own, whether a seed's
// drawn profile (or, under mixed, its named one) deletes and creates again
// a topic (three seeds in ten), and how often.
func drawRecreateTopic(seed uint64) float64 {
	if d := newRand(seed, streamRecreateTopic); d.Float64() < 0.3 {
		return 3000 + d.Float64()*12000
	}
	return 0
}

// drawConfigChanges draws, from a stream of its own, whether a seed's
// drawn profile (or, under mixed, its named one) changes topic configs
// mid-run (one seed in four), and how often: a topic's retention, and, in
// half of them, a topic's unclean.leader.election.enable.
func drawConfigChanges(seed uint64) (retentionMs, uncleanMs float64) {
	if d := newRand(seed, streamRetention); d.Float64() < 0.25 {
		retentionMs = 2000 + d.Float64()*13000
		if d.Float64() < 0.5 {
			uncleanMs = 5000 + d.Float64()*25000
		}
	}
	return retentionMs, uncleanMs
}

// drawLeaderBalance draws, from a stream of its own, a run's
// leader.imbalance.check.interval: 2 to 30 s (production's default is
// 5 min), so that runs of a minute go through several periodic
// preferred-leader elections, some while faults still move leaders.
func drawLeaderBalance(seed uint64) int64 {
	return 2000 + newRand(seed, streamLeaderBalance).Int64N(28_001)
}

// RecreateProfile deletes and creates again a topic of the admin's every
// 3 s (topic_recreate.go) under two acks=all producers, an idempotent and
// two transactional producers (pipelining; topic_recreate_txn.go), two
// read_committed consumers and four group members (KIP-848; they commit
// offsets of the topic: topic_recreate_groups.go),
// while swizzle-clogs hold fetches past a re-creation (every 6 s, for
// 3 s), nodes crash every 8 s (a third of them power losses) and stay
// down through re-creations, pauses come every 10 s, metadata reaches a
// node late every 15 s, and reassignments every 10 s. Leader epochs stay
// low, so that a fetch by a deleted id can carry the leader epoch of the
// new topic's leader (the replica's epoch check lets it through).
func RecreateProfile() Profile {
	p := QuietProfile()
	p.Consumers, p.Partitions, p.GroupMembers, p.ReadCommitted = 2, 1, 4, true
	p.IdempotentProducers, p.IdempotentPipeline, p.TxnProducers, p.TxnPipeline = 1, 3, 2, 3
	p.TxnAbortP, p.TxnTimeoutMs, p.TxnV2Share = 0.1, 10_000, 0.5
	p.RecreateTopicEveryMs = 3000
	p.ClogEveryMs, p.ClogForMs = 6000, 3000
	p.CrashEveryMs, p.PowerLossShare, p.DownForMs = 8000, 0.33, 4000
	p.PauseEveryMs, p.PauseForMs = 10_000, 2000
	p.MetadataLagEveryMs, p.MetadataLagForMs, p.MetadataLagMs = 15_000, 6000, 2000
	p.ReassignEveryMs = 10_000
	return p
}

// DeleteRecordsProfile is the churn profile (reassignments, crashes with
// power losses, swizzle-clogs, unregistered brokers) with pauses every
// 10 s, while the admin deletes records of a topic of its own every 1.5 s
// (delete_records.go).
func DeleteRecordsProfile() Profile {
	p := ChurnProfile()
	p.PauseEveryMs, p.PauseForMs = 10_000, 3000
	p.DeleteRecordsEveryMs = 1500
	return p
}

// RetentionProfile is the churn profile (reassignments, crashes with power
// losses, swizzle-clogs, unregistered brokers) with pauses every 10 s and
// jumping wall clocks, while the operator sets the retention of a topic of
// the admin's every 3 s (retention.go) and turns a topic's unclean leader
// elections on or off every 8 s.
func RetentionProfile() Profile {
	p := ChurnProfile()
	p.PauseEveryMs, p.PauseForMs = 10_000, 3000
	p.ClockJumpEveryMs = 15_000
	p.RetentionEveryMs = 3000
	p.UncleanToggleEveryMs = 8000
	return p
}

// BrokerConfigsProfile is the churn profile (crashes, reassignments,
// min.insync.replicas changes, clogs, unregistrations, group members,
// idempotent and transactional producers, a copier) with pauses every
// 10 s, the retention of a topic of its own set every 3 s, and a
// broker-wide config set or deleted every 2 s (broker_configs.go).
func BrokerConfigsProfile() Profile {
	p := ChurnProfile()
	p.PauseEveryMs, p.PauseForMs = 10_000, 3000
	p.RetentionEveryMs = 3000
	p.BrokerConfigEveryMs = 2000
	return p
}

// WipeProfile is the churn profile (reassignments, min.insync.replicas
// changes, clogs, unregistrations, group members, idempotent and
// transactional producers, a copier) with its crashes every 15 s (half of
// them power losses), controlled shutdowns every 20 s, network
// partitions every 20 s, DeleteRecords every 3 s and a topic's retention
// set every 5 s (so that wiped replicas fetch from raised log starts),
// while a node's data directory is wiped every 5 s, one node at a time
// (data_wipe.go: a wipe waits until the node wiped before caught up).
func WipeProfile() Profile {
	p := ChurnProfile()
	p.CrashEveryMs, p.ShutdownEveryMs = 15_000, 20_000
	p.PartitionEveryMs, p.PartitionForMs = 20_000, 3000
	p.WipeEveryMs = 5000
	p.DeleteRecordsEveryMs, p.RetentionEveryMs = 3000, 5000
	return p
}

// ClusterDownProfile is the churn profile (crashes, half of them power
// losses, reassignments, min.insync.replicas changes, clogs,
// unregistrations, group members, idempotent and transactional producers,
// a copier) with a controlled shutdown of one node every 10 s, pauses
// every 15 s, and the whole cluster stopped every 12 s, each node a
// controlled shutdown, and started again (cluster_down.go).
func ClusterDownProfile() Profile {
	p := ChurnProfile()
	p.ShutdownEveryMs = 10_000
	p.PauseEveryMs, p.PauseForMs = 15_000, 2000
	p.ClusterDownEveryMs = 12_000
	return p
}

// AutoCommitMembers is how many of the group members commit
// automatically.
func (p Profile) AutoCommitMembers() int {
	n := 0
	for i := range p.GroupMembers {
		if p.autoCommit(i) {
			n++
		}
	}
	return n
}

// autoCommit says whether the i-th group member commits automatically:
// under a share of one half, every other one.
func (p Profile) autoCommit(i int) bool {
	return p.AutoCommitShare >= 1 || p.AutoCommitShare > 0 && i%2 == 0
}

// txnV2 says whether the i-th transactional client (producers count from
// 0, copiers from 1) speaks KIP-890 part 2: under a share of one half,
// every other one.
func (p Profile) txnV2(i int) bool {
	return p.TxnV2Share >= 1 || p.TxnV2Share > 0 && i%2 == 0
}

// String lists the faults a profile turns on.
func (p Profile) String() string {
	var on []string
	add := func(cond bool, format string, args ...any) {
		if cond {
			on = append(on, fmt.Sprintf(format, args...))
		}
	}
	add(p.DropP > 0 || p.DupP > 0, "loss %.1f%% dup %.1f%%", 100*p.DropP, 100*p.DupP)
	add(p.CrashEveryMs > 0, "crashes every %.0fs (%.0f%% power loss)", p.CrashEveryMs/1000, 100*p.PowerLossShare)
	add(p.ShutdownEveryMs > 0, "controlled shutdowns every %.0fs", p.ShutdownEveryMs/1000)
	add(p.ClusterDownEveryMs > 0, "the whole cluster stopped every %.0fs", p.ClusterDownEveryMs/1000)
	add(p.PauseEveryMs > 0, "pauses every %.0fs", p.PauseEveryMs/1000)
	add(p.PartitionEveryMs > 0, "partitions every %.0fs", p.PartitionEveryMs/1000)
	add(p.ClogEveryMs > 0, "swizzle-clogs every %.0fs (held %.0fs)", p.ClogEveryMs/1000, p.ClogForMs/1000)
	add(p.LeaderBalanceEveryMs > 0, "leader imbalance checks every %.0fs", p.LeaderBalanceEveryMs/1000)
	add(p.LeaderBalanceEveryMs < 0, "no leader imbalance checks")
	add(p.ReassignEveryMs > 0, "reassignments every %.0fs", p.ReassignEveryMs/1000)
	add(p.MinISREveryMs > 0, "min.insync.replicas set every %.0fs", p.MinISREveryMs/1000)
	add(p.UncleanToggleEveryMs > 0, "unclean elections turned on or off every %.0fs", p.UncleanToggleEveryMs/1000)
	add(p.UnregisterEveryMs > 0, "down brokers unregistered every %.0fs", p.UnregisterEveryMs/1000)
	add(p.LinkFaultEveryMs > 0, "link faults every %.0fs", p.LinkFaultEveryMs/1000)
	add(p.ClientCutEveryMs > 0, "client cuts every %.0fs", p.ClientCutEveryMs/1000)
	add(p.ClockJumpEveryMs > 0, "clock jumps every %.0fs", p.ClockJumpEveryMs/1000)
	add(p.TimestampSkewShare > 0, "skewed timestamps %.0f%%", 100*p.TimestampSkewShare)
	add(p.LogAppendTimeShare > 0, "LogAppendTime share %.0f%%", 100*p.LogAppendTimeShare)
	add(p.ClockDriftPermille > 0, "clocks drift up to ±%.1f%%%s", p.ClockDriftPermille/10,
		map[bool]string{true: fmt.Sprintf(" (redrawn every %.0fs)", p.ClockDriftEveryMs/1000)}[p.ClockDriftEveryMs > 0])
	add(p.CheckpointLossShare > 0, "power losses take %.0f%% of compacted recovery points", 100*p.CheckpointLossShare)
	add(p.MetadataLogLossShare > 0, "power losses take %.0f%% of learners' metadata logs", 100*p.MetadataLogLossShare)
	add(p.DiskFaultEveryMs > 0, "disk faults every %.0fs%s", p.DiskFaultEveryMs/1000, map[bool]string{true: " (EIO on every operation)"}[p.DiskFaultAllOps])
	add(p.StarveISREveryMs > 0, "ISR starved every %.0fs", p.StarveISREveryMs/1000)
	add(p.MemberCrashEveryMs > 0 && p.GroupMembers > 0, "group member crashes every %.0fs", p.MemberCrashEveryMs/1000)
	add(p.EmptyStretchEveryMs > 0, "emptied stretches every %.0fs", p.EmptyStretchEveryMs/1000)
	add(p.LateJoinMs > 0, "the last of 4+ nodes joins at %.0fs", p.LateJoinMs/1000)
	add(p.FalseSuspicionP > 0, "false suspicions %.1f%%", 100*p.FalseSuspicionP)
	add(p.SlowLoadP > 0, "slow coordinator loads %.1f%% (%.0fms)", 100*p.SlowLoadP, p.SlowLoadMs)
	add(p.SlowDiskEveryMs > 0, "slow disks every %.0fs (for %.0fs, %.0fms per follower append)", p.SlowDiskEveryMs/1000, p.SlowDiskForMs/1000, p.SlowDiskMs)
	add(p.SlowLeaderAppends, "slow leader appends")
	add(p.MetadataLagEveryMs > 0, "metadata lags every %.0fs (for %.0fs, %.1fs late%s)", p.MetadataLagEveryMs/1000, p.MetadataLagForMs/1000, p.MetadataLagMs/1000,
		map[bool]string{true: ", a follower of the lagging leader starved"}[p.MetadataLagStarves])
	add(p.DeleteRecordsEveryMs > 0, "DeleteRecords every %.0fs", p.DeleteRecordsEveryMs/1000)
	add(p.RetentionEveryMs > 0, "a topic's retention set every %.0fs", p.RetentionEveryMs/1000)
	add(p.BrokerConfigEveryMs > 0, "a broker-wide config set every %.0fs", p.BrokerConfigEveryMs/1000)
	add(p.WipeEveryMs > 0, "data directories wiped every %.0fs", p.WipeEveryMs/1000)
	add(p.RecreateTopicEveryMs > 0, "a topic deleted and created again every %.0fs", p.RecreateTopicEveryMs/1000)
	add(p.SlowWriteP > 0, "slow fetch writers %.1f%% (%.0fms)", 100*p.SlowWriteP, p.SlowWriteMs)
	faults := "no faults"
	if len(on) > 0 {
		faults = strings.Join(on, ", ")
	}
	txns := ""
	if p.IdempotentProducers+p.TxnProducers+p.Copiers > 0 || p.ReadCommitted {
		txns = fmt.Sprintf(", %d idempotent producers%s, %d transactional producers and %d copiers (abort %.0f%%, timeout %.0fs, KIP-890 part 2 share %.0f%%%s)%s",
			p.IdempotentProducers, map[bool]string{true: fmt.Sprintf(" (%d batches in flight per partition%s)", p.IdempotentPipeline,
				map[bool]string{true: ", epoch bumped by the client"}[p.IdempotentEpochBump])}[p.IdempotentPipeline > 1 && p.IdempotentProducers > 0],
			p.TxnProducers, p.Copiers, 100*p.TxnAbortP, p.TxnTimeoutMs/1000, 100*p.TxnV2Share,
			map[bool]string{true: fmt.Sprintf(", %d batches in flight per partition", p.TxnPipeline)}[p.TxnPipeline > 1 && p.TxnProducers > 0],
			map[bool]string{true: ", the first consumer read_committed"}[p.ReadCommitted && p.Consumers > 0])
	}
	auto := ""
	if n := p.AutoCommitMembers(); n > 0 {
		auto = fmt.Sprintf(" (%d auto-committing, processing each poll %.0fms)", n, p.ProcessMs)
	}
	return fmt.Sprintf("%s; %d producers (%.0f%% acks=all) every %.0fms, %d consumers, %d group members%s%s%s, %d topics × %d partitions, min.insync.replicas %d, unclean share %.0f%%, compacted share %.0f%%",
		faults, p.Producers, 100*p.AcksAllShare, p.ProduceEveryMs, p.Consumers, p.GroupMembers, map[bool]string{true: " (classic)"}[p.ClassicGroups], auto, txns, p.Topics, p.Partitions, p.MinISR, 100*p.UncleanShare, 100*p.CompactedShare)
}
