package txn

import (
	"math"
	"slices"
	"strings"

	"gregor/logstore/internaltopic"
)

// State is a transaction's state, numbered as Kafka's __transaction_state
// records number it.
type State int8

// The states of a transactional id's transaction.
const (
	Empty             State = 0 // no transaction open
	Ongoing           State = 1 // partitions added, not ended
	PrepareCommit     State = 2 // EndTxn(commit) logged; markers being written
	PrepareAbort      State = 3 // EndTxn(abort) or a timeout logged; markers being written
	CompleteCommit    State = 4 // every commit marker written
	CompleteAbort     State = 5 // every abort marker written
	Dead              State = 6 // the transactional id is being removed
	PrepareEpochFence State = 7 // the epoch is being bumped to fence the producer before an abort
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit",
	"CompleteAbort", "Dead", "PrepareEpochFence"}

// String is Kafka's name of the state (DescribeTransactions and
// ListTransactions use it).
func (s State) String() string {
	if int(s) < len(stateNames) && s >= 0 {
		return stateNames[s]
	}
	return "Unknown"
}

// StateNamed is the state Kafka names name.
func StateNamed(name string) (State, bool) {
	for i, n := range stateNames {
		if n == name {
			return State(i), true
		}
	}
	return 0, false
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func compareTP(a, b TopicPartition) int {
	if c := strings.Compare(a.Topic, b.Topic); c != 0 {
		return c
	}
	return int(a.Partition) - int(b.Partition)
}

// noProducerEpoch is the epoch of a producer id not handed out yet.
const noProducerEpoch = -1

// epochExhausted says an epoch cannot be bumped again: the last epoch is
// kept for the bump that fences a producer whose transaction times out.
func epochExhausted(epoch int16) bool { return epoch >= math.MaxInt16-1 }

// txnMeta is one transactional id's state: what its record holds, plus the
// in-memory fields the coordinator needs while it runs.
type txnMeta struct {
	id string
	// key is the id's record key, encoded once (recordKey) and shared by
	// the states cloned from it.
	key []byte
	// The record's fields.
	producerID, prevProducerID, nextProducerID int64
	epoch                                      int16
	timeoutMs                                  int32
	state                                      State
	partitions                                 []TopicPartition // sorted
	lastUpdateWallMs, startWallMs              int64
	// tv2 is set once the client negotiated KIP-890 part 2 (EndTxn v5):
	// every EndTxn bumps the epoch.
	tv2 bool

	// markersTV2 says the markers of the end being written go out as
	// transaction version 2 (Marker.TransactionVersion): the end bumped
	// the epoch of a tv2 client's transaction. Set on the state a
	// prepare transition builds; not recorded, so false after a load.
	markersTV2 bool

	// lastEpoch is the epoch before the last bump (-1 at load): a client
	// retrying the request that bumped it is answered, not fenced.
	lastEpoch int16
	// startMonoMs is startWallMs on the monotonic clock: the timeout runs
	// from it.
	startMonoMs int64
	// pending is the state being appended (nil: none); requests that
	// would change the state meanwhile are told CONCURRENT_TRANSACTIONS.
	pending *txnMeta
	// fencing is set while the abort of a fenced producer's transaction is
	// appended: the transaction shows PrepareEpochFence.
	fencing bool
	// markers are the partitions whose markers are not written yet, in
	// the order of partitions, while preparing (nil otherwise). A slice:
	// a transaction has a handful of partitions, and it is made once per
	// transaction.
	markers []markerState
	// completeRetryAtMs is when a failed append of the completion is tried
	// again (0: none waiting).
	completeRetryAtMs int64
	// completeDueMs is, while every marker is written and the completion
	// waits for the producer's next add to share its append, when it is
	// appended alone (0: not waiting; complete.go).
	completeDueMs int64
	// afterComplete are requests that came while the completion waited:
	// they run again once it is appended (or failed).
	afterComplete []func(now internaltopic.Time)
	// parked are the producer's adds for its next transaction that came
	// while this one completes, or while an add is appended (see park).
	parked []parkedAdd
}

// parkedAdd is an add of partitions waiting for a transaction to complete
// or for another add to be appended; done takes its outcome.
type parkedAdd struct {
	producerID int64
	epoch      int16
	tps        []TopicPartition
	byBroker   bool
	// announce are the partitions whose leaders are told they joined
	// (those of a producer's own adds; a broker's partition asked).
	announce []TopicPartition
	done     func(code int16)
}

// markerState is one partition's marker still to write.
type markerState struct {
	tp        TopicPartition
	inflight  bool
	retryAtMs int64
}

// marker is tp's marker still to write, nil when none is.
func (t *txnMeta) marker(tp TopicPartition) *markerState {
	for i := range t.markers {
		if t.markers[i].tp == tp {
			return &t.markers[i]
		}
	}
	return nil
}

// fenced says a request of the producer at epoch is refused as fenced: an
// older epoch, or the one whose transaction is being aborted under the
// next (fencing), which is fenced from the moment the coordinator decided
// it, as Kafka's coordinator bumps the epoch in memory before it appends.
func (t *txnMeta) fenced(epoch int16) bool {
	return epoch != t.epoch || t.fencing && t.pending != nil && t.pending.epoch != epoch
}

// clone copies the durable fields: the state a transition builds.
func (t *txnMeta) clone() *txnMeta {
	n := &txnMeta{id: t.id, key: t.key, producerID: t.producerID, prevProducerID: t.prevProducerID, nextProducerID: t.nextProducerID,
		epoch: t.epoch, timeoutMs: t.timeoutMs, state: t.state, partitions: slices.Clone(t.partitions),
		lastUpdateWallMs: t.lastUpdateWallMs, startWallMs: t.startWallMs, tv2: t.tv2,
		lastEpoch: t.lastEpoch, startMonoMs: t.startMonoMs}
	return n
}

// has says whether tp is in the transaction.
func (t *txnMeta) has(tp TopicPartition) bool {
	_, ok := slices.BinarySearchFunc(t.partitions, tp, compareTP)
	return ok
}

// addPartitions adds tps to the transaction, keeping partitions sorted.
func (t *txnMeta) addPartitions(tps []TopicPartition) {
	for _, tp := range tps {
		if i, ok := slices.BinarySearchFunc(t.partitions, tp, compareTP); !ok {
			t.partitions = slices.Insert(t.partitions, i, tp)
		}
	}
}

// nextDeadlineMs is when Tick has work for the transaction.
func (t *txnMeta) nextDeadlineMs() int64 {
	next := int64(math.MaxInt64)
	if t.state == Ongoing && t.pending == nil {
		next = t.startMonoMs + int64(t.timeoutMs)
	}
	for _, m := range t.markers {
		if !m.inflight {
			next = min(next, m.retryAtMs)
		}
	}
	if t.completeRetryAtMs > 0 {
		next = min(next, t.completeRetryAtMs)
	}
	if t.completeDueMs > 0 {
		next = min(next, t.completeDueMs)
	}
	return next
}

// transit appends the record of next, the state t moves to; once it is
// appended t becomes next and done runs with 0, else t stays and done runs
// with the error the request gets.
func (c *Coordinator) transit(t *txnMeta, next *txnMeta, done func(code int16, now internaltopic.Time)) {
	c.transitChain(t, []*txnMeta{next}, done)
}

// transitChain is transit through states one after the other, their
// records appended together: t becomes the last once they are.
func (c *Coordinator) transitChain(t *txnMeta, chain []*txnMeta, done func(code int16, now internaltopic.Time)) {
	if t.pending != nil {
		panic("txn: a transition while one is pending for " + t.id)
	}
	next := chain[len(chain)-1]
	t.pending = next
	records := make([]internaltopic.Record, 0, len(chain))
	for _, s := range chain {
		records = append(records, metadataRecord(s))
	}
	c.append(records, func(code int16, now internaltopic.Time) {
		t.pending = nil
		if code != 0 {
			done(storeErrorCode(code), now)
			c.runParked(t, now)
			return
		}
		markers, parked := t.markers, t.parked
		*t = *next
		t.markers, t.parked = markers, parked
		if t.state == Dead {
			delete(c.txns, t.id)
		}
		done(0, now)
		c.runParked(t, now)
	})
}
