package cluster

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// TimestampType is message.timestamp.type.
type TimestampType int8

// The two timestamp types of Kafka.
const (
	CreateTime TimestampType = iota
	LogAppendTime
)

// IsolationLevel is the isolation_level of a Fetch or ListOffsets request.
type IsolationLevel int8

// The two isolation levels of Kafka. read_committed reads up to the last
// stable offset; until transactions exist no transaction is ever open, so the
// last stable offset equals the high watermark and both levels read the same.
const (
	ReadUncommitted IsolationLevel = 0
	ReadCommitted   IsolationLevel = 1
)

// ReplicaConfig is what the replica core needs of its topic's configs.
type ReplicaConfig struct {
	// MaxMessageBytes is max.message.bytes: the largest batch accepted.
	MaxMessageBytes int32
	// TimestampType is message.timestamp.type.
	TimestampType TimestampType
	// TimestampBeforeMaxMs and TimestampAfterMaxMs are
	// message.timestamp.before.max.ms and message.timestamp.after.max.ms:
	// how far a CreateTime may lie in the past or the future.
	TimestampBeforeMaxMs int64
	TimestampAfterMaxMs  int64
	// MinInsyncReplicas is min.insync.replicas, checked for acks=all.
	MinInsyncReplicas int
	// DurableHighWatermark makes the high watermark follow the flushed
	// offset instead of the log end offset, so a record is acknowledged
	// (acks=all) and visible to consumers only once an fsync covers it (the
	// group-commit fsync mode).
	DurableHighWatermark bool
	// Compacted is cleanup.policy containing compact: every record must
	// have a key, and the log is handed to the log cleaner when due.
	Compacted bool
	// Recompress and Codec are compression.type: with Recompress, every
	// produced batch is stored with Codec (0 none, 1 gzip, 2 snappy, 3
	// lz4, 4 zstd), re-encoded when its producer used another, as by
	// Kafka's log validator; without (compression.type=producer), each
	// batch keeps its producer's codec.
	Recompress bool
	Codec      int8
	// CodecLevel is Codec's level as its topic config
	// compression.<codec>.level gives it (Kafka's scale, see
	// logstore.Codecs.Recompress); snappy and none have none.
	CodecLevel int32
}

// ReplicaState is what the replica core recovers on start: the partition's
// record in the metadata image (replicas, ISR, leader, leader and partition
// epochs: it decides whether the replica leads or follows), the log's offsets
// and leader-epoch cache (Log.LeaderEpochs), and the checkpointed high
// watermark (replication-offset-checkpoint; 0 when absent).
type ReplicaState struct {
	Partition      PartitionImage
	LogStartOffset int64
	LogEndOffset   int64
	FlushedOffset  int64
	HighWatermark  int64
	LeaderEpochs   []logstore.EpochEntry
	// Producers is the log's producer state (Log.ProducerStates); nil is
	// none.
	Producers *logstore.ProducerStates
}

// ReplicaOptions are the node-wide settings of every replica core.
type ReplicaOptions struct {
	// NodeID is node.id: the replica's own broker, the ISR while the
	// replica is alone.
	NodeID int32
	// HousekeepingIntervalMs is how often the log's time-based policies
	// (flush.ms, the recovery-point checkpoint) run; zero means
	// DefaultHousekeepingIntervalMs.
	HousekeepingIntervalMs int64
	// RetentionCheckIntervalMs is log.retention.check.interval.ms: how
	// often retention runs; zero means DefaultRetentionCheckIntervalMs.
	RetentionCheckIntervalMs int64
	// CleanerBackoffMs is log.cleaner.backoff.ms: how often a compacted
	// log is considered for cleaning (Kafka's cleaner threads look for the
	// dirtiest log this often when idle); zero means DefaultCleanerBackoffMs.
	CleanerBackoffMs int64
	// LogCleanerEnabled is log.cleaner.enable: compacted logs are handed to
	// the node's log cleaner.
	LogCleanerEnabled bool
	// ReplicaLagTimeMaxMs is replica.lag.time.max.ms: a leader drops from
	// the ISR a follower that has not caught up with its log end offset for
	// this long; zero means DefaultReplicaLagTimeMaxMs.
	ReplicaLagTimeMaxMs int64
	// AlterPartitionRetryBackoffMs is how long a leader waits before asking
	// the controller again after an AlterPartition failed with an error
	// worth retrying; zero means DefaultAlterPartitionRetryBackoffMs.
	AlterPartitionRetryBackoffMs int64
	// AlterPartitionRetryBackoffMaxMs bounds that wait, which doubles with
	// each failure in a row (no active controller, a timeout); zero means
	// DefaultAlterPartitionRetryBackoffMaxMs (at least the first wait).
	AlterPartitionRetryBackoffMaxMs int64
	// ProducerIDExpirationMs is producer.id.expiration.ms; zero means
	// DefaultProducerIDExpirationMs.
	ProducerIDExpirationMs int64
	// TruncateOnFetch makes a follower whose log holds a leader epoch fetch
	// at once after a leader change, truncating by the diverging epoch its
	// leader answers (Fetch v12+, Kafka since 2.7), instead of asking
	// OffsetForLeaderEpoch first: one round trip less. It is the
	// follower's side only: a leader answers diverging epochs to every
	// follower fetch that carries a last fetched epoch (Fetch v12+)
	// whatever its own setting, and a follower takes them either way, so
	// replicas may differ in it. What it needs is that every leader it
	// fetches from answers them, which a node of an older build that
	// served Fetch v12+ did not: the shells switch it on once the cluster
	// finalized ReplicationVersionFeature 1 (TruncateOnFetchAllowed), which
	// no broker of such a build can register under, and follow the level
	// with SetTruncateOnFetch.
	TruncateOnFetch bool
}

// DefaultReplicaLagTimeMaxMs is Kafka's replica.lag.time.max.ms (KIP-537).
const DefaultReplicaLagTimeMaxMs = 30_000

// DefaultAlterPartitionRetryBackoffMs is how long a leader waits before
// resending a failed AlterPartition, unless told otherwise.
const DefaultAlterPartitionRetryBackoffMs = 100

// DefaultAlterPartitionRetryBackoffMaxMs is the longest wait before a failed
// AlterPartition is sent again, unless told otherwise: Kafka's
// retry.backoff.max.ms, as retry.backoff.ms is the first (KIP-580).
const DefaultAlterPartitionRetryBackoffMaxMs = 1000

// DefaultHousekeepingIntervalMs is how often a replica ticks its log unless
// told otherwise.
const DefaultHousekeepingIntervalMs = 1000

// DefaultRetentionCheckIntervalMs is Kafka's log.retention.check.interval.ms.
const DefaultRetentionCheckIntervalMs = 300_000

// DefaultCleanerBackoffMs is Kafka's log.cleaner.backoff.ms.
const DefaultCleanerBackoffMs = 15_000

// RequestID names a request to the replica core; replies carry it back. The
// shell maps it to whoever waits.
type RequestID uint64

// Replica is the core of one partition replica, leader or follower as its
// partition record says (PartitionChanged moves it between the roles at any
// time).
//
// As leader it validates produce batches and asks for appends, tracks each
// follower's log end offset and last caught-up time from its fetches,
// advances the high watermark to the minimum over the ISR (while the ISR
// holds at least min.insync.replicas), answers acks, asks the controller to
// shrink or expand the ISR (AlterPartition), bounds and answers fetches of
// consumers and followers, parks fetch watches, answers OffsetForLeaderEpoch,
// resolves ListOffsets and DeleteRecords.
//
// As follower it truncates its log to where it agrees with the leader's
// (OffsetForLeaderEpoch, KIP-101/KIP-279) after every leader epoch change,
// then publishes its fetch state for the node's fetcher of its leader and
// appends what the fetcher brings, keeping its high watermark at the
// leader's (never past its own log end offset) and its log start offset at
// the leader's.
//
// In both roles it maps log errors to Kafka codes, and decides when the log is
// ticked, retention runs and compaction is planned. It does no I/O and reads
// no clock: the shell feeds it requests, storage completions, fetcher
// outcomes, controller answers and ticks with the time, and carries out what
// it lists in Ready.
type Replica struct {
	opts ReplicaOptions
	// recordCodecs decompresses produced batches to validate their
	// records; see codecs.
	recordCodecs *logstore.Codecs
	cfg          ReplicaConfig
	state        ReplicaState
	// partition is the partition record as the replica applied it; its ISR
	// is the committed one (the controller's), its PartitionEpoch rises
	// with the controller's answers to AlterPartition too.
	partition PartitionImage
	// epochs is the log's leader-epoch cache, as the log last reported it.
	epochs []logstore.EpochEntry
	// nowMs and wallMs are the latest monotonic and wall times the core
	// was told.
	nowMs, wallMs int64

	// highWatermark is the offset below which records are committed.
	highWatermark int64

	// leader is the leader role's state, nil when following.
	leader *leaderState
	// alterAsked is the ISR change whose AlterPartition the shell sends
	// and whose answer has not come (nil for none): once the replica no
	// longer waits for it, Ready tells the shell to stop asking.
	alterAsked *isrChange
	// ineligible are the brokers that may join no ISR now (fenced or in
	// controlled shutdown), in id order: the high watermark does not wait
	// for them to join.
	ineligible []int32
	// brokerEpochs are the registered brokers' epochs by id in the image
	// that gave ineligible (read only, shared; nil when not told): a
	// follower's record from an earlier incarnation of its broker does not
	// hold the high watermark (currentIncarnation).
	brokerEpochs map[int32]int64
	// follower is the follower role's state, nil when leading.
	follower *followerState

	// appending holds produces handed to the shell for appending.
	appending map[RequestID]pendingProduce
	// batchSlab holds the one-batch slices of the appends of the Ready
	// being gathered (oneBatch).
	batchSlab [][]byte
	// producers is the producer state of the log's batches (producer.go);
	// producerAppending the idempotent batches handed out for appending,
	// by producer id, in order; followerInfos the producer fields of the
	// batches a follower is appending.
	producers         *logstore.ProducerStates
	producerAppending map[int64][]logstore.ProducerBatchInfo
	followerInfos     []logstore.ProducerBatchInfo
	// verifying are the transactional produces waiting for their
	// coordinator's verification, in arrival order (replica_txn_verify.go).
	verifying []verifyingProduce
	// txnAdded are the producers whose ongoing transaction the
	// coordinator said this partition is in, by producer id: the epoch.
	txnAdded map[int64]int16
	// verificationSeqs are, by producer id, the lowest sequence of the
	// producer's batches that waited for verification since its last
	// transactional batch was handed out for appending: a later sequence
	// is refused until that batch is appended (replica_txn_verify.go).
	verificationSeqs map[int64]verificationSeq
	// unreplicatedTxns are transactions whose marker the high watermark
	// has not passed (producer_txn.go).
	unreplicatedTxns []completedTxn
	// awaitingHW holds acks=all produces whose last offset the high
	// watermark has not yet passed, in offset order.
	awaitingHW []pendingProduce
	// watches are parked fetches waiting for data past an offset;
	// followerWatches counts those of followers.
	watches         []watch
	followerWatches int
	// wakeDeferred holds the watches back while AppendsCompleted reports
	// several completions (replica_group_commit.go).
	wakeDeferred bool
	// reading, lookingUp and advancing are fetches, ListOffsets lookups
	// and DeleteRecords handed to the shell.
	reading map[RequestID]FetchReply
	// prefixReads are the reads, among reading, of followers and
	// consumers (replica_read.go: emptyPrefixEnd, emptyStretch).
	prefixReads map[RequestID]prefixRead
	lookingUp   map[RequestID]ListOffsetsRequest
	advancing   map[RequestID]deleteRecords
	// deleteWaits are the DeleteRecords whose log start offset the leader
	// reached, waiting for the followers' (replica_delete.go).
	deleteWaits []deleteRecords
	// assigningEpoch is set while an AssignEpochStart is with the shell.
	assigningEpoch bool
	// logWork is the follower's log work with the shell.
	logWork followerLogWork
	// fetchSeq numbers the follower fetch states published.
	fetchSeq uint64

	// nextHousekeepingMs, nextRetentionCheckMs and nextCompactionCheckMs
	// are monotonic deadlines.
	nextHousekeepingMs    int64
	nextRetentionCheckMs  int64
	nextCompactionCheckMs int64
	compaction            compactionState

	ready Ready
	// spare holds the emptied slices of Readys given back (Recycle), for
	// the next Ready to fill.
	spare readySpare
}

// readySpare is the arrays of a Ready given back through Recycle that the
// effects of a busy partition fill on every produce: its appends, durable
// waits and replies.
type readySpare struct {
	appends        []AppendBatches
	awaitDurable   []int64
	produceReplies []ProduceReply
	fetchReplies   []FetchReply
	// batchSlab is the slab of a Ready's one-batch slices (oneBatch):
	// once the Ready is given back, none of them is read again.
	batchSlab [][]byte
}

// compactionState is where the replica's one compaction job stands.
type compactionState int8

const (
	compactionIdle     compactionState = iota
	compactionPlanning                 // PlanCompaction handed out, CompactionPlanned not yet told
	compactionRunning                  // the log cleaner has the job
)

// NewReplica builds a replica over a recovered log at time now, leader or
// follower as its partition record says. The high watermark starts at the
// checkpointed one (kept within the log's offsets); a leader advances it at
// once as far as the ISR allows, a follower learns the leader's from its
// fetches.
func NewReplica(opts ReplicaOptions, settings TopicSettings, st ReplicaState, now Instant) *Replica {
	if opts.HousekeepingIntervalMs <= 0 {
		opts.HousekeepingIntervalMs = DefaultHousekeepingIntervalMs
	}
	if opts.RetentionCheckIntervalMs <= 0 {
		opts.RetentionCheckIntervalMs = DefaultRetentionCheckIntervalMs
	}
	if opts.CleanerBackoffMs <= 0 {
		opts.CleanerBackoffMs = DefaultCleanerBackoffMs
	}
	if opts.ReplicaLagTimeMaxMs <= 0 {
		opts.ReplicaLagTimeMaxMs = DefaultReplicaLagTimeMaxMs
	}
	if opts.AlterPartitionRetryBackoffMs <= 0 {
		opts.AlterPartitionRetryBackoffMs = DefaultAlterPartitionRetryBackoffMs
	}
	if opts.AlterPartitionRetryBackoffMaxMs <= 0 {
		opts.AlterPartitionRetryBackoffMaxMs = DefaultAlterPartitionRetryBackoffMaxMs
	}
	opts.AlterPartitionRetryBackoffMaxMs = max(opts.AlterPartitionRetryBackoffMaxMs, opts.AlterPartitionRetryBackoffMs)
	if opts.ProducerIDExpirationMs <= 0 {
		opts.ProducerIDExpirationMs = DefaultProducerIDExpirationMs
	}
	producers := st.Producers
	if producers == nil {
		producers = logstore.NewProducerStates()
	}
	if st.LogStartOffset > st.LogEndOffset || st.FlushedOffset > st.LogEndOffset {
		panic(fmt.Sprintf("replica: recovered log start %d, flushed %d past the log end offset %d", st.LogStartOffset, st.FlushedOffset, st.LogEndOffset))
	}
	r := &Replica{
		opts: opts, cfg: settings.Replica, state: st, nowMs: now.MonoMs, wallMs: now.WallMs,
		// No record applied yet: any record is newer.
		partition:     PartitionImage{Partition: st.Partition.Partition, Leader: -1, LeaderEpoch: -1, PartitionEpoch: -1},
		epochs:        slices.Clone(st.LeaderEpochs),
		highWatermark: min(max(st.HighWatermark, st.LogStartOffset), st.LogEndOffset),
		appending:     map[RequestID]pendingProduce{},
		producers:     producers, producerAppending: map[int64][]logstore.ProducerBatchInfo{},
		reading:     map[RequestID]FetchReply{},
		prefixReads: map[RequestID]prefixRead{},
		lookingUp:   map[RequestID]ListOffsetsRequest{},
		advancing:   map[RequestID]deleteRecords{},
		// Retention and compaction are first considered with the first
		// housekeeping, then every retention check interval and cleaner
		// backoff.
		nextHousekeepingMs:    now.MonoMs + opts.HousekeepingIntervalMs,
		nextRetentionCheckMs:  now.MonoMs + opts.HousekeepingIntervalMs,
		nextCompactionCheckMs: now.MonoMs + opts.HousekeepingIntervalMs,
	}
	r.state.LeaderEpochs, r.state.Producers = nil, nil
	r.noteEndedTxns()
	r.PartitionChanged(st.Partition, now)
	return r
}

// Ready is what the shell must do after a step. Carry it out in field order:
// configure the log, record a new leader epoch's start, truncate, append as
// follower, follow the leader's log start offset, append, register
// durability waits, read, look up, advance the log start offset, tick the
// log, apply retention, plan and finish compaction; then send the
// AlterPartition request and hand the follower's fetch state to the fetcher;
// then send replies and wake watchers; then, if Fatal is set, stop. Every
// I/O effect is reported back with its completion method (named on each
// type).
type Ready struct {
	// ConfigureLog is the log's new configuration (Log.SetConfig).
	ConfigureLog *logstore.Config
	// AssignEpochStart records where a new leader epoch starts, before any
	// append of the epoch; EpochStartAssigned.
	AssignEpochStart *AssignEpochStart
	// Truncate cuts a follower's log to agree with its leader's;
	// Truncated.
	Truncate *TruncateLog
	// FollowerAppend appends what a follower fetched from its leader;
	// FollowerAppendCompleted.
	FollowerAppend *AppendAsFollower
	// RaiseLogStart moves a follower's log start offset up to its
	// leader's; LogStartRaised.
	RaiseLogStart *RaiseLogStart
	// Appends are batches to append to the log; AppendCompleted.
	Appends []AppendBatches
	// VerifyTxns ask the transaction coordinators to verify transactional
	// produces; TxnVerified.
	VerifyTxns []VerifyTxn
	// AwaitDurable asks to be told (Flushed) when every record below the
	// offset is durable: the group committer's fsync.
	AwaitDurable []int64
	// Reads are log reads for fetches; ReadCompleted.
	Reads []ReadRecords
	// Lookups are offset-by-timestamp lookups for ListOffsets;
	// TimestampLookedUp.
	Lookups []LookupTimestamp
	// LogStartAdvances raise the log start offset for DeleteRecords;
	// LogStartAdvanced.
	LogStartAdvances []AdvanceLogStart
	// TickLog runs the log's time-based policies (flush.ms, recovery-point
	// checkpoint); report the flushed offset after it with Flushed.
	TickLog *TickLog
	// DeleteRetainedSegments applies retention; RetentionApplied.
	DeleteRetainedSegments *DeleteRetainedSegments
	// PlanCompaction asks the log for a compaction job and hands it to the
	// log cleaner; CompactionPlanned, then CompactionFinished.
	PlanCompaction *PlanCompaction
	// FinishCompaction commits or abandons the job the log cleaner ran.
	FinishCompaction *FinishCompaction
	// ExpireProducers are producer ids the log forgets
	// (Log.RemoveProducers): producer.id.expiration.ms passed.
	ExpireProducers []int64

	// AbandonAlterPartition says the replica no longer waits for the
	// answer to the AlterPartition last handed out (its leadership ended,
	// a newer record settled or replaced the change): the shell stops
	// the call, which would otherwise go on asking the controllers until
	// its deadline. It comes before AlterPartition, which starts a new one.
	AbandonAlterPartition bool
	// AlterPartition asks the controller to change the ISR (a leader's
	// shrink or expansion); AlterPartitionCompleted with its answer.
	AlterPartition *AlterPartitionRequest
	// FetchState is the follower's new fetch state, for the fetcher of its
	// leader (Fetcher.SetPartition); a state with Leader -1 or phase
	// FollowerIdle takes the partition out of fetching.
	FetchState *FollowerFetchState

	// ProduceReplies answer produces (never acks=0 ones).
	ProduceReplies []ProduceReply
	// FetchReplies answer fetches and ReadOnWake watches.
	FetchReplies []FetchReply
	// ListOffsetsReplies answer ListOffsets.
	ListOffsetsReplies []ListOffsetsReply
	// DeleteRecordsReplies answer DeleteRecords.
	DeleteRecordsReplies []DeleteRecordsReply
	// EpochEndReplies answer OffsetForLeaderEpoch.
	EpochEndReplies []EpochEndReply
	// Woken are watches to wake: data is readable past their offset, the
	// replica stopped leading, or the deadline passed or the fetcher's
	// next watch replaced it (Expired).
	Woken []WatchWoken

	// Fatal is set when the partition cannot go on (a corrupt log, a log
	// that cannot record its leader epoch or be truncated): after the
	// replies, the shell stops and the partition goes offline.
	Fatal error

	// batchSlab is the slab the one-batch slices of Appends were cut from
	// (oneBatch; the last one, when they took several), for Recycle to
	// give to a later Ready.
	batchSlab [][]byte
}

// Empty says whether there is nothing to do.
func (rd *Ready) Empty() bool {
	return rd.ConfigureLog == nil && rd.AssignEpochStart == nil && rd.Truncate == nil && rd.FollowerAppend == nil &&
		rd.RaiseLogStart == nil && len(rd.Appends) == 0 && len(rd.VerifyTxns) == 0 && len(rd.AwaitDurable) == 0 && len(rd.Reads) == 0 &&
		len(rd.Lookups) == 0 && len(rd.LogStartAdvances) == 0 && rd.TickLog == nil && rd.DeleteRetainedSegments == nil &&
		rd.PlanCompaction == nil && rd.FinishCompaction == nil && len(rd.ExpireProducers) == 0 && !rd.AbandonAlterPartition && rd.AlterPartition == nil && rd.FetchState == nil &&
		len(rd.ProduceReplies) == 0 && len(rd.FetchReplies) == 0 && len(rd.ListOffsetsReplies) == 0 &&
		len(rd.DeleteRecordsReplies) == 0 && len(rd.EpochEndReplies) == 0 && len(rd.Woken) == 0 && rd.Fatal == nil
}

// AppendBatches asks the shell to append validated batches (Log.Append with
// the replica's leader epoch at wall time NowMs).
type AppendBatches struct {
	ID          RequestID
	Batches     [][]byte
	LeaderEpoch int32
	NowMs       int64
}

// AppendOutcome is what an append did: the first batch's base offset, and the
// log's end and flushed offsets after it.
type AppendOutcome struct {
	BaseOffset    int64
	LogEndOffset  int64
	FlushedOffset int64
}

// ReadRecords asks for a log read (Log.Read) for a fetch.
type ReadRecords struct {
	ID        RequestID
	Offset    int64
	MaxBytes  int64
	MaxOffset int64
	// Follower says the read is a follower's fetch: the leader sends it
	// from the log file (logstore.Log.ReadUntailed), keeping no copy of
	// the tail in memory for it.
	Follower bool
}

// LookupTimestamp asks for the offset of a timestamp (Log.OffsetForTimestamp),
// or of the largest timestamp (Log.OffsetOfMaxTimestamp) when MaxTimestamp.
type LookupTimestamp struct {
	ID           RequestID
	TimestampMs  int64
	MaxTimestamp bool
}

// AdvanceLogStart asks to raise the log start offset
// (Log.AdvanceLogStartOffset).
type AdvanceLogStart struct {
	ID     RequestID
	Offset int64
}

// TickLog runs the log's time-based policies at wall time NowMs (Log.Tick).
type TickLog struct{ NowMs int64 }

// DeleteRetainedSegments applies retention at wall time NowMs to the
// segments wholly below HighWatermark, the replica's high watermark
// (Log.DeleteRetainedSegments).
type DeleteRetainedSegments struct{ NowMs, HighWatermark int64 }

// PlanCompaction asks the log for a compaction job at wall time NowMs over
// records below MaxOffset (Log.PlanClean), to hand to the log cleaner:
// the last stable offset, as Kafka's cleaner stops at the first unstable
// one (the cleaner compacts committed transactional records by key, and
// a transaction still open, or whose marker is not yet replicated, may
// yet abort).
type PlanCompaction struct {
	NowMs     int64
	MaxOffset int64
}

// FinishCompaction says what to do with the job the log cleaner ran:
// Log.CommitClean when Commit, else CleanJob.Abandon.
type FinishCompaction struct{ Commit bool }

// ProduceReply answers one partition of a Produce request.
type ProduceReply struct {
	ID           RequestID
	ErrorCode    int16
	ErrorMessage string
	// RecordErrors are the refused records of an INVALID_RECORD or
	// INVALID_TIMESTAMP refusal per record (Produce v8+).
	RecordErrors    []logstore.RecordError
	BaseOffset      int64
	LogAppendTimeMs int64
	LogStartOffset  int64
	// CurrentLeader is the leader as this replica knows it, with
	// NOT_LEADER_OR_FOLLOWER (Produce v10+, KIP-951).
	CurrentLeader LeaderHint
}

// LeaderHint is a partition's leader and leader epoch as a replica knows
// them, sent with NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH so that a
// client re-routes without a metadata round trip (KIP-951); -1 and -1 when
// there is none to give.
type LeaderHint struct {
	LeaderID    int32
	LeaderEpoch int32
}

// noLeaderHint is the hint of an answer that gives none.
var noLeaderHint = LeaderHint{LeaderID: -1, LeaderEpoch: -1}

// leaderHint is the hint an answer with code carries.
func (r *Replica) leaderHint(code int16) LeaderHint {
	if code == kerr.NotLeaderForPartition.Code || code == kerr.FencedLeaderEpoch.Code {
		return LeaderHint{LeaderID: r.partition.Leader, LeaderEpoch: r.partition.LeaderEpoch}
	}
	return noLeaderHint
}

// FetchReply answers one partition of a Fetch. Records is what the log read
// (nil when nothing was read); the receiver releases it.
type FetchReply struct {
	ID               RequestID
	ErrorCode        int16
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	Records          *logstore.Records
	// ReadUpTo is the end (exclusive) of the readable offsets the read
	// covered, 0 when nothing was read: a read that returned no records
	// below it found a stretch of the log that holds none (compaction
	// emptied it), and a watch of its fetch waits for records past it.
	ReadUpTo int64
	// CurrentLeader is the leader as this replica knows it, with
	// NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH (Fetch v12+, KIP-951).
	CurrentLeader LeaderHint
	// Diverging, for a follower's fetch, says where its log diverges from
	// this leader's (no records are read); nil when it does not.
	Diverging *DivergingEpoch
}

// ListOffsetsReply answers one partition of a ListOffsets request.
type ListOffsetsReply struct {
	ID          RequestID
	ErrorCode   int16
	TimestampMs int64
	Offset      int64
	LeaderEpoch int32
}

// DeleteRecordsReply answers one partition of a DeleteRecords request.
type DeleteRecordsReply struct {
	ID           RequestID
	ErrorCode    int16
	LowWatermark int64
}

// WatchWoken wakes a parked fetch watch. A watch with ReadOnWake is answered
// by a FetchReply instead, unless Expired. An expired watch is only
// forgotten: its Fetch has its own deadline.
type WatchWoken struct {
	ID      RequestID
	Expired bool
}

// HighWatermark is the offset below which records are committed.
func (r *Replica) HighWatermark() int64 { return r.highWatermark }

// LogEndOffset is the next offset to assign.
func (r *Replica) LogEndOffset() int64 { return r.state.LogEndOffset }

// LogStartOffset is the first readable offset.
func (r *Replica) LogStartOffset() int64 { return r.state.LogStartOffset }

// LeaderEpoch is the partition's leader epoch.
func (r *Replica) LeaderEpoch() int32 { return r.partition.LeaderEpoch }

// PartitionEpoch is the partition epoch of the record the replica applied
// last (raised too by the controller's answers to AlterPartition).
func (r *Replica) PartitionEpoch() int32 { return r.partition.PartitionEpoch }

// IsLeader says whether the replica leads its partition.
func (r *Replica) IsLeader() bool { return r.leader != nil }

// Leader is the partition's leader (the node itself when leading), -1 when
// it has none.
func (r *Replica) Leader() int32 { return r.partition.Leader }

// Replicas are the partition's replicas (do not modify).
func (r *Replica) Replicas() []int32 { return r.partition.Replicas }

// ISR is the committed in-sync replica set: the controller's (do not
// modify). A follower keeps the one of its record, which it does not use.
func (r *Replica) ISR() []int32 { return r.partition.ISR }

// LeaderEpochs is the log's leader-epoch cache as the core knows it (do not
// modify).
func (r *Replica) LeaderEpochs() []logstore.EpochEntry { return r.epochs }

// observe takes the time of an input: the core's clock is the latest
// monotonic time it was told (completions carry no time at all); its wall
// time, for the log's effects, the latest wall time.
func (r *Replica) observe(now Instant) {
	r.observeMs(now.MonoMs)
	if now.MonoMs >= r.nowMs {
		r.wallMs = now.WallMs
	}
}

func (r *Replica) observeMs(nowMs int64) { r.nowMs = max(r.nowMs, nowMs) }

// SetConfig applies changed topic configs, to the core and (through Ready) to
// the log.
func (r *Replica) SetConfig(settings TopicSettings) {
	r.cfg = settings.Replica
	logCfg := settings.Log
	r.ready.ConfigureLog = &logCfg
	r.advanceHighWatermark()
}

// Ready takes the effects accumulated since the last call.
func (r *Replica) Ready() Ready {
	if a := r.alterAsked; a != nil && (r.leader == nil || r.leader.isrChange != a || !a.inFlight) {
		r.alterAsked, r.ready.AbandonAlterPartition = nil, true
	}
	rd := r.ready
	rd.batchSlab = r.batchSlab
	r.ready, r.batchSlab = Ready{Appends: r.spare.appends, AwaitDurable: r.spare.awaitDurable,
		ProduceReplies: r.spare.produceReplies, FetchReplies: r.spare.fetchReplies}, r.spare.batchSlab
	r.spare = readySpare{}
	return rd
}

// Recycle gives back rd, taken from Ready, once the caller has carried out
// its effects and reads it no more: its appends', durable waits' and
// replies' arrays and the slab of its appends' batch slices, emptied, are
// filled by a later Ready's effects, so a busy partition's produces do not
// allocate them anew every time. A caller that does not recycle loses
// nothing but the reuse.
func (r *Replica) Recycle(rd *Ready) {
	r.spare.appends = recycled(r.spare.appends, rd.Appends)
	r.spare.awaitDurable = recycled(r.spare.awaitDurable, rd.AwaitDurable)
	r.spare.produceReplies = recycled(r.spare.produceReplies, rd.ProduceReplies)
	r.spare.fetchReplies = recycled(r.spare.fetchReplies, rd.FetchReplies)
	r.spare.batchSlab = recycled(r.spare.batchSlab, rd.batchSlab)
	*rd = Ready{}
}

// recycled is the spare array to keep: the one held, or else given,
// emptied (nothing it held stays reachable).
func recycled[T any](held, given []T) []T {
	if cap(held) > 0 || cap(given) == 0 {
		return held
	}
	clear(given)
	return given[:0]
}

// Tick tells the core the time: produces waiting past their request timeout
// and watches past their deadline are answered, and housekeeping that is due
// is handed out.
func (r *Replica) Tick(now Instant) {
	r.observe(now)
	r.expire(now.MonoMs)
	if r.leader != nil {
		r.tickLeader(now)
	}
	if now.MonoMs >= r.nextHousekeepingMs {
		r.ready.TickLog = &TickLog{NowMs: now.WallMs}
		r.nextHousekeepingMs = now.MonoMs + r.opts.HousekeepingIntervalMs
	}
	if now.MonoMs >= r.nextRetentionCheckMs {
		r.ready.DeleteRetainedSegments = &DeleteRetainedSegments{NowMs: now.WallMs, HighWatermark: r.highWatermark}
		r.expireProducers(now.WallMs)
		r.nextRetentionCheckMs = now.MonoMs + r.opts.RetentionCheckIntervalMs
	}
	if r.cleans() && now.MonoMs >= r.nextCompactionCheckMs {
		if r.compaction == compactionIdle {
			r.ready.PlanCompaction = &PlanCompaction{NowMs: now.WallMs, MaxOffset: r.LastStableOffset()}
			r.compaction = compactionPlanning
		}
		r.nextCompactionCheckMs = now.MonoMs + r.opts.CleanerBackoffMs
	}
}

// cleans says whether the log cleaner compacts this replica's log.
func (r *Replica) cleans() bool { return r.cfg.Compacted && r.opts.LogCleanerEnabled }

// NextDeadlineMs is the earliest monotonic time at which Tick has work: a
// request deadline, the next housekeeping, or (leading) the moment a
// follower falls out of sync or an AlterPartition is due again.
// Housekeeping is scheduled from when it last ran, so no stream of requests
// ever postpones it.
func (r *Replica) NextDeadlineMs() int64 {
	next := min(r.nextHousekeepingMs, r.nextRetentionCheckMs)
	if r.cleans() {
		next = min(next, r.nextCompactionCheckMs)
	}
	if r.leader != nil {
		next = min(next, r.leaderDeadlineMs())
	}
	for _, p := range r.awaitingHW {
		next = min(next, p.deadlineMs)
	}
	for _, w := range r.watches {
		next = min(next, w.DeadlineMs)
	}
	for _, d := range r.deleteWaits {
		next = min(next, d.deadlineMs)
	}
	return next
}

// RetentionApplied reports that retention ran; logStartOffset is the log's
// start offset after it.
func (r *Replica) RetentionApplied(logStartOffset int64) {
	r.raiseLogStartOffset(logStartOffset)
}

// CompactionPlanned reports whether the log had a job and the log cleaner
// took it.
func (r *Replica) CompactionPlanned(started bool) {
	if r.compaction != compactionPlanning {
		panic("replica: compaction planned without PlanCompaction")
	}
	r.compaction = compactionIdle
	if started {
		r.compaction = compactionRunning
	}
}

// CompactionFinished reports the log cleaner's outcome for the running job:
// the core asks to commit it, or to abandon it after an error.
func (r *Replica) CompactionFinished(err error) {
	if r.compaction != compactionRunning {
		panic("replica: compaction finished with no job running")
	}
	r.compaction = compactionIdle
	r.ready.FinishCompaction = &FinishCompaction{Commit: err == nil}
}

// PendingRequests lists the requests the core still owes an answer, sorted
// (for invariant checks and shutdown).
func (r *Replica) PendingRequests() []RequestID {
	var ids []RequestID
	for id, p := range r.appending {
		if !p.orphaned {
			ids = append(ids, id)
		}
	}
	for _, p := range r.awaitingHW {
		ids = append(ids, p.id)
	}
	for _, v := range r.verifying {
		ids = append(ids, v.id)
	}
	for _, w := range r.watches {
		ids = append(ids, w.id)
	}
	for id := range r.reading {
		ids = append(ids, id)
	}
	for id := range r.lookingUp {
		ids = append(ids, id)
	}
	for id := range r.advancing {
		ids = append(ids, id)
	}
	for _, d := range r.deleteWaits {
		ids = append(ids, d.id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// raiseLogStartOffset takes a log start offset the log reached: the
// leader-epoch cache follows it as the log's does, and so does a follower's
// high watermark (as Kafka's, never below the log start offset).
func (r *Replica) raiseLogStartOffset(offset int64) {
	if offset > r.state.LogEndOffset {
		panic(fmt.Sprintf("replica: log start offset %d past the log end offset %d", offset, r.state.LogEndOffset))
	}
	if offset > r.state.LogStartOffset {
		r.state.LogStartOffset = offset
		r.epochs = epochsFromStart(r.epochs, offset)
		if r.follower != nil {
			r.highWatermark = max(r.highWatermark, offset)
		}
	}
}

// neverMs is a monotonic time before any other: a follower that never
// caught up, or never fetched.
const neverMs = math.MinInt64 / 4
