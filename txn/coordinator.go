package txn

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// AllocID names a producer id the coordinator asked for; ProducerIDAllocated
// reports it under this id.
type AllocID uint64

// Config is what a coordinator is told when it starts. Zero fields take
// Kafka's defaults.
type Config struct {
	// CoordinatorEpoch is the leader epoch of the coordinator's
	// __transaction_state partition; markers carry it, so a partition can
	// refuse a deposed coordinator's.
	CoordinatorEpoch int32
	// MaxTimeoutMs is transaction.max.timeout.ms: the longest transaction
	// timeout InitProducerId accepts.
	MaxTimeoutMs int32
	// IDExpirationMs is transactional.id.expiration.ms: how long an idle
	// transactional id is kept.
	IDExpirationMs int64
	// ExpiryCheckIntervalMs is
	// transaction.remove.expired.transaction.cleanup.interval.ms.
	ExpiryCheckIntervalMs int64
	// MarkerRetryBackoffMs is how long a marker that failed waits before
	// it is sent again.
	MarkerRetryBackoffMs int64
	// OffsetsPartitions is the partition count of __consumer_offsets
	// (offsets.topic.num.partitions): AddOffsetsToTxn adds a group's.
	OffsetsPartitions int32
	// CompleteDelayMs is how long the completion record of a transaction
	// whose markers are all written waits for the producer's next add, to
	// share its append (complete.go); 0 appends it at once.
	CompleteDelayMs int64
}

// Kafka's defaults.
const (
	DefaultMaxTimeoutMs          = 900000
	DefaultIDExpirationMs        = 7 * 24 * 60 * 60 * 1000
	DefaultExpiryCheckIntervalMs = 3600000
	DefaultMarkerRetryBackoffMs  = 100
	DefaultOffsetsPartitions     = 50
)

func (c Config) withDefaults() Config {
	if c.MaxTimeoutMs <= 0 {
		c.MaxTimeoutMs = DefaultMaxTimeoutMs
	}
	if c.IDExpirationMs <= 0 {
		c.IDExpirationMs = DefaultIDExpirationMs
	}
	if c.ExpiryCheckIntervalMs <= 0 {
		c.ExpiryCheckIntervalMs = DefaultExpiryCheckIntervalMs
	}
	if c.MarkerRetryBackoffMs <= 0 {
		c.MarkerRetryBackoffMs = DefaultMarkerRetryBackoffMs
	}
	if c.OffsetsPartitions <= 0 {
		c.OffsetsPartitions = DefaultOffsetsPartitions
	}
	return c
}

// Reply answers a request: Response, or for an add handed by HandleAdd
// (Response nil) Code.
type Reply struct {
	ID       internaltopic.RequestID
	Response kmsg.Response
	// Code is HandleAdd's outcome: 0, or the error of every partition.
	Code int16
}

// Append asks the shell to append records to the coordinator's partition
// like a produce with acks=all, and to report with Appended once they are
// acknowledged (or failed).
type Append struct {
	ID      internaltopic.AppendID
	Records []internaltopic.Record
}

// Marker asks the shell to write a transaction marker to a partition (a
// WriteTxnMarkers request to its leader) and to report with MarkerWritten.
type Marker struct {
	TransactionalID  string
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	Topic            string
	Partition        int32
	// TransactionVersion is 2 when the end bumped the epoch of a
	// transaction version 2 client's transaction, so the marker's epoch is
	// above every epoch its batches carry and the leader refuses one that
	// is not (KIP-1228, WriteTxnMarkers v2); 0 otherwise, and for a
	// transaction loaded while its markers were being written.
	TransactionVersion int8
}

// Ready is what the shell must do after a step: allocate producer ids,
// append, write markers, then reply.
type Ready struct {
	Allocs  []AllocID
	Appends []Append
	Markers []Marker
	// Added tells the partitions' leaders, before the replies, which
	// partitions a producer's own AddPartitionsToTxn or AddOffsetsToTxn
	// made join an ongoing transaction (PartitionsAdded).
	Added   []PartitionsAdded
	Replies []Reply
}

// Empty says whether there is nothing to do.
func (rd *Ready) Empty() bool {
	return len(rd.Allocs) == 0 && len(rd.Appends) == 0 && len(rd.Markers) == 0 && len(rd.Added) == 0 && len(rd.Replies) == 0
}

// PartitionsAdded says the partitions are in the ongoing transaction of
// the producer id and epoch, durably: a partition leader told so before
// the producer's first produce needs no verification of it (KIP-890 part
// 1) until the transaction's marker. The shell tells the leaders on its
// node before it sends the reply to the AddPartitionsToTxn, so that the
// message is ahead of the producer's produce and of the marker.
type PartitionsAdded struct {
	ProducerID    int64
	ProducerEpoch int16
	Partitions    []TopicPartition
}

// Coordinator is the core of one __transaction_state partition's
// transaction coordinator: the transactional ids that hash to the partition
// and their transactions. A request that changes durable state is answered
// once its record is appended. It starts loading: the shell hands it the
// partition's batches (Load) and then says the load is done (Loaded); until
// then every request is told COORDINATOR_LOAD_IN_PROGRESS.
//
// It has no I/O, clock or goroutines; the caller serialises every call.
type Coordinator struct {
	cfg     Config
	loading bool
	txns    map[string]*txnMeta
	// partitions are the partition counts of the topics of the node's
	// metadata image (SetTopics); nil until told.
	partitions map[string]int32
	// appending holds what to do when each append is reported.
	appending    map[internaltopic.AppendID]func(code int16, now internaltopic.Time)
	nextAppendID internaltopic.AppendID
	// allocating holds what to do with each producer id asked for.
	allocating  map[AllocID]func(producerID int64, code int16, now internaltopic.Time)
	nextAllocID AllocID
	// nextExpiryCheckMs is when idle transactional ids are next checked.
	nextExpiryCheckMs int64
	decoder           batchDecoder
	loadedRecords     int
	ready             Ready
}

// NewCoordinator starts a coordinator that is loading its partition.
func NewCoordinator(cfg Config) *Coordinator {
	return &Coordinator{cfg: cfg.withDefaults(), loading: true, txns: map[string]*txnMeta{},
		appending:  map[internaltopic.AppendID]func(int16, internaltopic.Time){},
		allocating: map[AllocID]func(int64, int16, internaltopic.Time){}}
}

// Load replays the batches filling p, read from the partition from offset
// from on; it returns the offset after the last batch.
func (c *Coordinator) Load(p []byte, from int64) (int64, error) {
	if !c.loading {
		panic("txn: Load after Loaded")
	}
	return c.decoder.decode(p, from, func(_ int64, r internaltopic.Record) {
		c.loadedRecords++
		c.replay(r)
	})
}

// Loaded ends the load at time now: transactions caught preparing get
// their markers written again, open ones run out their timeouts from when
// they started.
func (c *Coordinator) Loaded(now internaltopic.Time) {
	c.loading = false
	c.nextExpiryCheckMs = now.MonoMs + c.cfg.ExpiryCheckIntervalMs
	for _, t := range c.sorted() {
		t.startMonoMs = now.MonoMs - max(now.WallMs-t.startWallMs, 0)
		switch t.state {
		case PrepareCommit, PrepareAbort:
			c.sendMarkers(t, now)
		}
	}
}

// Loading says whether the coordinator is still loading its partition.
func (c *Coordinator) Loading() bool { return c.loading }

// LoadedRecords is how many records Load replayed.
func (c *Coordinator) LoadedRecords() int { return c.loadedRecords }

// Handle takes a transaction request at time now. Its answer comes in a
// later Ready, at once or after records are appended.
func (c *Coordinator) Handle(id internaltopic.RequestID, req kmsg.Request, now internaltopic.Time) {
	if c.loading {
		c.reply(id, ErrorResponse(req, kerr.CoordinatorLoadInProgress.Code))
		return
	}
	if c.completeFirst(id, req, now) {
		return
	}
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		c.initProducerID(id, r, now, -1)
	case *kmsg.AddPartitionsToTxnRequest:
		c.addPartitionsToTxn(id, r, now)
	case *kmsg.AddOffsetsToTxnRequest:
		c.addOffsetsToTxn(id, r, now)
	case *kmsg.EndTxnRequest:
		c.endTxn(id, r, now)
	case *kmsg.DescribeTransactionsRequest:
		c.reply(id, c.describeTransactions(r))
	case *kmsg.ListTransactionsRequest:
		c.reply(id, c.listTransactions(r, now))
	default:
		panic(fmt.Sprintf("txn: coordinator handed %s", kmsg.NameForKey(req.Key())))
	}
}

// Appended reports the outcome of an append: code is 0, or the Kafka error
// of the partition's produce answer.
func (c *Coordinator) Appended(id internaltopic.AppendID, code int16, now internaltopic.Time) {
	done, ok := c.appending[id]
	if !ok {
		panic(fmt.Sprintf("txn: append %d reported twice or never asked", id))
	}
	delete(c.appending, id)
	done(code, now)
}

// ProducerIDAllocated hands the coordinator the producer id it asked for
// under id, or the error code that kept the shell from getting one.
func (c *Coordinator) ProducerIDAllocated(id AllocID, producerID int64, code int16, now internaltopic.Time) {
	done, ok := c.allocating[id]
	if !ok {
		panic(fmt.Sprintf("txn: producer id %d reported twice or never asked", id))
	}
	delete(c.allocating, id)
	done(producerID, code, now)
}

// Tick tells the core the time: transactions past their timeout are
// aborted, failed markers are sent again, idle transactional ids expire.
func (c *Coordinator) Tick(now internaltopic.Time) {
	if c.loading {
		return
	}
	for _, t := range c.sorted() {
		switch {
		case t.state == Ongoing && t.pending == nil && now.MonoMs >= t.startMonoMs+int64(t.timeoutMs):
			c.abortTimedOut(t, now)
		case t.state == PrepareCommit || t.state == PrepareAbort:
			c.retryMarkers(t, now)
		}
	}
	if now.MonoMs >= c.nextExpiryCheckMs {
		c.expireIDs(now)
		c.nextExpiryCheckMs = now.MonoMs + c.cfg.ExpiryCheckIntervalMs
	}
}

// NextDeadlineMs is the earliest monotonic time at which Tick has work
// (math.MaxInt64 while loading).
func (c *Coordinator) NextDeadlineMs() int64 {
	if c.loading {
		return math.MaxInt64
	}
	next := c.nextExpiryCheckMs
	for _, t := range c.txns {
		next = min(next, t.nextDeadlineMs())
	}
	return next
}

// Ready takes the effects accumulated since the last call.
func (c *Coordinator) Ready() Ready {
	rd := c.ready
	c.ready = Ready{}
	return rd
}

func (c *Coordinator) reply(id internaltopic.RequestID, resp kmsg.Response) {
	c.ready.Replies = append(c.ready.Replies, Reply{ID: id, Response: resp})
}

// append asks for records to be appended and calls done with the outcome.
func (c *Coordinator) append(records []internaltopic.Record, done func(code int16, now internaltopic.Time)) {
	c.nextAppendID++
	c.appending[c.nextAppendID] = done
	c.ready.Appends = append(c.ready.Appends, Append{ID: c.nextAppendID, Records: records})
}

// allocate asks for a new producer id and calls done with it.
func (c *Coordinator) allocate(done func(producerID int64, code int16, now internaltopic.Time)) {
	c.nextAllocID++
	c.allocating[c.nextAllocID] = done
	c.ready.Allocs = append(c.ready.Allocs, c.nextAllocID)
}

func (c *Coordinator) sorted() []*txnMeta {
	out := make([]*txnMeta, 0, len(c.txns))
	for _, t := range c.txns {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *txnMeta) int { return strings.Compare(a.id, b.id) })
	return out
}

// storeErrorCode is the error a request gets when the record it needed was
// not appended (Kafka's mapping for transaction metadata).
func storeErrorCode(code int16) int16 {
	switch code {
	case 0:
		return 0
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code,
		kerr.RequestTimedOut.Code:
		return kerr.CoordinatorNotAvailable.Code
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return kerr.NotCoordinator.Code
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code:
		return kerr.UnknownServerError.Code
	}
	return kerr.UnknownServerError.Code
}
