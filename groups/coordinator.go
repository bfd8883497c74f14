package groups

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// Client is who sent a request: the header's client id and the peer's host.
type Client struct {
	ID, Host string
}

// Config is what a coordinator is told when it starts. Zero fields take
// Kafka's defaults.
type Config struct {
	// InitialRebalanceDelayMs is group.initial.rebalance.delay.ms: how long
	// an empty group waits for more members before its first rebalance. A
	// negative value means none; zero means Kafka's 3000.
	InitialRebalanceDelayMs int64
	// MinSessionTimeoutMs and MaxSessionTimeoutMs are
	// group.min.session.timeout.ms and group.max.session.timeout.ms.
	MinSessionTimeoutMs, MaxSessionTimeoutMs int32
	// MaxSize is group.max.size: members a classic group accepts.
	MaxSize int
	// OffsetsRetentionMs is offsets.retention.minutes in ms: how long the
	// offsets of an empty group are kept.
	OffsetsRetentionMs int64
	// OffsetsRetentionCheckIntervalMs is
	// offsets.retention.check.interval.ms.
	OffsetsRetentionCheckIntervalMs int64
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes.
	OffsetMetadataMaxBytes int
	// NewMemberJoinTimeoutMs bounds how long a new member's JoinGroup may
	// wait in a rebalance (Kafka's fixed 5 minutes).
	NewMemberJoinTimeoutMs int64
	// MaxTombstoneBatchBytes bounds the records of one append of
	// tombstones (tombstones.go; DefaultMaxTombstoneBatchBytes).
	MaxTombstoneBatchBytes int
	// Consumer are the KIP-848 consumer group settings.
	Consumer ConsumerConfig
	// Entropy is the coordinator's only source of randomness: member ids.
	Entropy io.Reader
}

// Kafka's defaults.
const (
	DefaultInitialRebalanceDelayMs         = 3000
	DefaultMinSessionTimeoutMs             = 6000
	DefaultMaxSessionTimeoutMs             = 1800000
	DefaultOffsetsRetentionMs              = 7 * 24 * 60 * 60 * 1000
	DefaultOffsetsRetentionCheckIntervalMs = 600000
	DefaultOffsetMetadataMaxBytes          = 4096
	DefaultNewMemberJoinTimeoutMs          = 300000
)

func (c Config) withDefaults() Config {
	switch {
	case c.InitialRebalanceDelayMs == 0:
		c.InitialRebalanceDelayMs = DefaultInitialRebalanceDelayMs
	case c.InitialRebalanceDelayMs < 0:
		c.InitialRebalanceDelayMs = 0
	}
	if c.MinSessionTimeoutMs <= 0 {
		c.MinSessionTimeoutMs = DefaultMinSessionTimeoutMs
	}
	if c.MaxSessionTimeoutMs <= 0 {
		c.MaxSessionTimeoutMs = DefaultMaxSessionTimeoutMs
	}
	if c.MaxSize <= 0 {
		c.MaxSize = math.MaxInt32
	}
	if c.OffsetsRetentionMs <= 0 {
		c.OffsetsRetentionMs = DefaultOffsetsRetentionMs
	}
	if c.OffsetsRetentionCheckIntervalMs <= 0 {
		c.OffsetsRetentionCheckIntervalMs = DefaultOffsetsRetentionCheckIntervalMs
	}
	if c.OffsetMetadataMaxBytes <= 0 {
		c.OffsetMetadataMaxBytes = DefaultOffsetMetadataMaxBytes
	}
	if c.NewMemberJoinTimeoutMs <= 0 {
		c.NewMemberJoinTimeoutMs = DefaultNewMemberJoinTimeoutMs
	}
	if c.MaxTombstoneBatchBytes <= 0 {
		c.MaxTombstoneBatchBytes = DefaultMaxTombstoneBatchBytes
	}
	c.Consumer = c.Consumer.withDefaults()
	return c
}

// Reply answers a request.
type Reply struct {
	ID       internaltopic.RequestID
	Response kmsg.Response
}

// Append asks the shell to append records to the coordinator's partition
// like a produce with acks=all, and to report with Appended once they are
// acknowledged (or failed).
type Append struct {
	ID      internaltopic.AppendID
	Records []internaltopic.Record
	// Producer, when set, makes the records one transactional batch of
	// that producer (TxnOffsetCommit): it must go alone, not merged with
	// other appends.
	Producer *Producer
	// Splittable says the records need not be written atomically
	// (tombstones): a shell whose partition refuses them for their size
	// may write them in several batches, and reports the append once
	// every part is acknowledged, or at the first that fails.
	Splittable bool
}

// Ready is what the shell must do after a step: append, then reply. A
// reply comes out only once every record asked before it is acknowledged,
// so no client is told of state that a failover could lose.
type Ready struct {
	Appends []Append
	Replies []Reply
	// Reload says an append failed: the core reverted by answering every
	// request it owed (the failed append's own with the mapped error, the
	// others NOT_COORDINATOR) and does nothing more. The shell must drop
	// the appends it has not written, ignore the outcomes of those in
	// flight, and start a new Coordinator from the partition's
	// acknowledged records, as Kafka's coordinator reverts to its last
	// committed state.
	Reload bool
}

// Empty says whether there is nothing to do.
func (rd *Ready) Empty() bool { return len(rd.Appends) == 0 && len(rd.Replies) == 0 && !rd.Reload }

// Coordinator is the core of one __consumer_offsets partition's group
// coordinator: the groups whose ids hash to the partition, their members and
// their committed offsets. It answers group requests, decides rebalances,
// expires members and offsets, and lists the records that make its state
// durable. It holds every reply until the records asked before it are
// acknowledged (replies.go), and when an append fails it reverts (see
// Ready.Reload). It starts loading: the shell hands it the partition's
// batches (Load) and then says the load is done (Loaded); until then every
// request is told COORDINATOR_LOAD_IN_PROGRESS.
//
// It has no I/O, clock or goroutines; the caller serialises every call.
type Coordinator struct {
	cfg     Config
	loading bool
	groups  map[string]*group
	topics  topicTable
	// topicsKnown says SetTopics was called: offsets loaded before are
	// checked against the table then, those loaded after at Loaded.
	topicsKnown bool
	// appending holds what to do when each append is reported.
	appending map[internaltopic.AppendID]func(code int16, now internaltopic.Time)
	// refusable are the appends in appending that a refusal fails alone
	// (refused_appends.go).
	refusable    map[internaltopic.AppendID]bool
	nextAppendID internaltopic.AppendID
	// acknowledged is the highest append id up to which every append was
	// acknowledged.
	acknowledged internaltopic.AppendID
	// owed are the requests not answered yet; held, the answers waiting
	// for their records (replies.go).
	owed map[internaltopic.RequestID]kmsg.Request
	held []heldReply
	// failed is set when an append failed: the core reverts at the next
	// Ready; reverted, once it did.
	failed, reverted bool
	// nextRetentionCheckMs is when offsets are next checked for expiry.
	nextRetentionCheckMs int64
	// rebalances counts completed classic rebalances and consumer group
	// epoch bumps.
	rebalances int64
	decoder    batchDecoder
	// loadedRecords counts the records replayed by Load.
	loadedRecords int
	// txnOffsets are the offsets committed in transactions not ended yet,
	// by producer id (txn_offsets.go).
	txnOffsets map[int64]txnPending
	ready      Ready
}

// NewCoordinator starts a coordinator that is loading its partition.
func NewCoordinator(cfg Config) *Coordinator {
	cfg = cfg.withDefaults()
	return &Coordinator{cfg: cfg, loading: true, groups: map[string]*group{},
		appending: map[internaltopic.AppendID]func(int16, internaltopic.Time){}, refusable: map[internaltopic.AppendID]bool{}, topics: newTopicTable(nil), txnOffsets: map[int64]txnPending{},
		owed: map[internaltopic.RequestID]kmsg.Request{}}
}

// Load replays the batches filling p, read from the partition from offset
// from on; it returns the offset after the last batch.
func (c *Coordinator) Load(p []byte, from int64) (int64, error) {
	if !c.loading {
		panic("groups: Load after Loaded")
	}
	return c.decoder.decode(p, from, func(_ int64, r internaltopic.Record, b batchInfo) {
		switch {
		case b.control:
			c.replayMarker(b.producerID, b.commit)
		case b.transactional:
			c.loadedRecords++
			c.replayTxnOffset(b.producerID, r)
		default:
			c.loadedRecords++
			c.replay(r)
		}
	})
}

// Loaded ends the load at time now: members of loaded groups must heartbeat
// within their session timeouts from now on. Offsets loaded of a topic the
// table (SetTopics) does not hold under the id they were committed for are
// dropped, with tombstones.
func (c *Coordinator) Loaded(now internaltopic.Time) {
	c.loading = false
	c.nextRetentionCheckMs = now.MonoMs + c.cfg.OffsetsRetentionCheckIntervalMs
	if c.topicsKnown {
		// Topics deleted (or deleted and created again) while no
		// coordinator of the partition dropped their offsets, or after
		// their records were written: Kafka removes a deleted topic's
		// offsets, and a new topic of the name starts with none.
		c.dropStaleOffsets(nil)
	}
	for _, g := range c.sortedGroups() {
		c.groupLoaded(g, now)
	}
}

// Loading says whether the coordinator is still loading its partition.
func (c *Coordinator) Loading() bool { return c.loading }

// LoadedRecords is how many records Load replayed.
func (c *Coordinator) LoadedRecords() int { return c.loadedRecords }

// Handle takes a group request from client at time now. Its answer comes in
// a later Ready, at once or after records are appended or a rebalance ends.
func (c *Coordinator) Handle(id internaltopic.RequestID, req kmsg.Request, client Client, now internaltopic.Time) {
	switch {
	case c.loading:
		c.release(Reply{ID: id, Response: ErrorResponse(req, kerr.CoordinatorLoadInProgress.Code)})
		return
	case c.failed:
		c.release(Reply{ID: id, Response: ErrorResponse(req, kerr.NotCoordinator.Code)})
		return
	}
	c.owed[id] = req
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		c.joinGroup(id, r, client, now)
	case *kmsg.SyncGroupRequest:
		c.syncGroup(id, r, now)
	case *kmsg.HeartbeatRequest:
		c.heartbeat(id, r, now)
	case *kmsg.LeaveGroupRequest:
		c.leaveGroup(id, r, now)
	case *kmsg.OffsetCommitRequest:
		c.offsetCommit(id, r, now)
	case *kmsg.TxnOffsetCommitRequest:
		c.txnOffsetCommit(id, r, now)
	case *kmsg.OffsetFetchRequest:
		c.reply(id, c.offsetFetch(r))
	case *kmsg.OffsetDeleteRequest:
		c.offsetDelete(id, r, now)
	case *kmsg.ListGroupsRequest:
		c.reply(id, c.listGroups(r))
	case *kmsg.DescribeGroupsRequest:
		c.reply(id, c.describeGroups(r))
	case *kmsg.DeleteGroupsRequest:
		c.deleteGroups(id, r, now)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		c.consumerHeartbeat(id, r, client, now)
	case *kmsg.ConsumerGroupDescribeRequest:
		c.reply(id, c.consumerGroupDescribe(r))
	default:
		panic(fmt.Sprintf("groups: coordinator handed %s", kmsg.NameForKey(req.Key())))
	}
}

// Appended reports the outcome of an append: code is 0, or the Kafka error
// of the partition's produce answer. An offset commit or a classic group's
// assignment the partition refused unwritten fails alone
// (refused_appends.go). After any other failure the
// core only answers, with errors, the requests of other failed appends
// reported before the next Ready, which reverts it.
func (c *Coordinator) Appended(id internaltopic.AppendID, code int16, now internaltopic.Time) {
	if c.reverted {
		return
	}
	done, ok := c.appending[id]
	if !ok {
		panic(fmt.Sprintf("groups: append %d reported twice or never asked", id))
	}
	delete(c.appending, id)
	refusable := c.refusable[id]
	delete(c.refusable, id)
	switch {
	case code != 0 && refusable && RefusedUnwritten(code):
		c.refused(done, code, now)
	case code != 0:
		// The failed append's requests are answered with its error:
		// done callbacks answer only with errors on a failure.
		c.failed = true
		done(code, now)
	case !c.failed:
		c.advanceAcknowledged()
		done(code, now)
		c.releaseHeld()
	}
}

// Tick tells the core the time: rebalances, sessions, pending members and
// offsets whose time has come are dealt with.
func (c *Coordinator) Tick(now internaltopic.Time) {
	if c.loading || c.failed {
		return
	}
	for _, g := range c.sortedGroups() {
		if g.kind == kindConsumer {
			c.consumerTick(g, now)
		} else {
			c.classicTick(g, now)
		}
	}
	if now.MonoMs >= c.nextRetentionCheckMs {
		c.expireOffsets(now)
		c.nextRetentionCheckMs = now.MonoMs + c.cfg.OffsetsRetentionCheckIntervalMs
	}
}

// NextDeadlineMs is the earliest monotonic time at which Tick has work
// (math.MaxInt64 while loading).
func (c *Coordinator) NextDeadlineMs() int64 {
	if c.loading || c.failed {
		return math.MaxInt64
	}
	next := c.nextRetentionCheckMs
	for _, g := range c.groups {
		next = min(next, g.nextDeadlineMs())
	}
	return next
}

// Ready takes the effects accumulated since the last call.
func (c *Coordinator) Ready() Ready {
	if c.failed && !c.reverted {
		c.revert()
	}
	rd := c.ready
	c.ready = Ready{}
	return rd
}

// PendingAppends lists the appends not yet reported, sorted.
func (c *Coordinator) PendingAppends() []internaltopic.AppendID {
	ids := make([]internaltopic.AppendID, 0, len(c.appending))
	for id := range c.appending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// append asks for records to be appended and calls done with the outcome.
func (c *Coordinator) append(records []internaltopic.Record, done func(code int16, now internaltopic.Time)) {
	c.nextAppendID++
	c.appending[c.nextAppendID] = done
	c.ready.Appends = append(c.ready.Appends, Append{ID: c.nextAppendID, Records: records})
}

func (c *Coordinator) sortedGroups() []*group {
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *group) int { return cmp.Compare(a.id, b.id) })
	return out
}

// newMemberID is Kafka's member id: the client id, a dash and a random
// UUID.
func (c *Coordinator) newMemberID(clientID string) string {
	return clientID + "-" + c.newUUID()
}

// newUUID draws a version 4 UUID from the entropy.
func (c *Coordinator) newUUID() string {
	var b [16]byte
	if _, err := io.ReadFull(c.cfg.Entropy, b[:]); err != nil {
		panic(fmt.Sprintf("groups: entropy failed: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// storeErrorCode is the error a request gets when the records it needed
// were not appended (Kafka's mapping for group metadata).
func storeErrorCode(code int16) int16 {
	switch code {
	case 0:
		return 0
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code,
		kerr.RequestTimedOut.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	}
	return kerr.UnknownServerError.Code
}

// commitErrorCode is storeErrorCode for offset commits, where a record too
// large means the commit is.
func commitErrorCode(code int16) int16 {
	switch code {
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return kerr.InvalidCommitOffsetSize.Code
	}
	return storeErrorCode(code)
}
