package cluster

import (
	"fmt"
	"math"
)

// FetchConfig is what a Fetch request asks of its wait and its answer.
type FetchConfig struct {
	// MinBytes is min_bytes: answer once this many bytes are readable.
	MinBytes int32
	// MaxBytes is the response's max_bytes; zero or less means no limit
	// (requests before v3 have none).
	MaxBytes int32
	// DeadlineMs is when max_wait_ms runs out (monotonic).
	DeadlineMs int64
}

// FetchTarget is one partition a Fetch asks for.
type FetchTarget struct {
	FetchPartition
	// ErrorCode is set for a partition the router could not route (unknown
	// topic or partition, no leader here): it is never read and answered
	// with this code.
	ErrorCode int16
}

// PartitionRead is what one partition answered a read with.
type PartitionRead struct {
	ErrorCode        int16
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	// RecordsBytes is the size of the records read (0: none).
	RecordsBytes int64
	// ReadUpTo is FetchReply.ReadUpTo: with no records, the log holds none
	// below it past the fetch offset.
	ReadUpTo int64
	// Diverging is FetchReply.Diverging: the Fetch answers at once.
	Diverging *DivergingEpoch
}

// Fetch is the core of one Fetch request: its partitions in request order,
// what each returned in the last read, its byte bounds and deadline. It
// decides when to read, when to park watches in the partitions and when to
// answer, and which partitions' records go in the answer. It does no I/O and
// reads no clock; the shell serialises calls into it.
//
// A Fetch reads every routed partition (Ready.Read, then ReadCompleted). It
// answers when a partition failed, min_bytes are readable, the deadline
// passed, the node is stopping or its connection closed (a parked one is then
// dropped, ConnectionClosed); otherwise it parks a watch in each routed
// partition (Ready.Watches) and reads again once, at the first wake-up or at
// the deadline. A shell may answer a partition's read from the partition's
// published view (FetchView.ReadFromView: nothing new to read, nothing for
// the leader to record) instead of reading it, and park a watch outside the
// replica, woken by the views the replica publishes (FetchView.Wakes); the
// Fetch cannot tell. The isolation level is not its concern: it travels with each
// partition's read to the replica (Replica.Fetch, Replica.Watch), which reads
// up to the last stable offset for read_committed.
type Fetch struct {
	cfg      FetchConfig
	targets  []FetchTarget
	reads    []PartitionRead // the last read, by target
	routed   int             // targets with no routing error
	phase    fetchPhase
	stopping bool
	// connClosed: the connection closed (ConnectionClosed).
	connClosed bool
	ready      FetchReady
}

type fetchPhase int8

const (
	fetchReading  fetchPhase = iota // a read was handed out
	fetchParked                     // watches were handed out
	fetchAnswered                   // done
)

// FetchReady is what the shell must do for a Fetch after a step.
type FetchReady struct {
	// Read asks for a read of every routed partition, reported with
	// ReadCompleted.
	Read bool
	// Watches are watches to park, one per routed partition.
	Watches []FetchWatch
	// Answer, when set, is the response: send it; the Fetch is done.
	Answer *FetchAnswer
	// Dropped: the Fetch's connection closed while it was parked
	// (ConnectionClosed); it is done with no answer.
	Dropped bool
}

// FetchWatch is a watch to park in target Index's partition: it wakes the
// Fetch (Woken) when records past FetchOffset are readable, or, with
// ReadOnWake, reads them for it (WokenWithRead).
type FetchWatch struct {
	Index       int
	FetchOffset int64
	DeadlineMs  int64
	ReadOnWake  bool
	// WaitPast is Watch.WaitPast: where the last read of the partition
	// stopped (the readable end then), or 0.
	WaitPast int64
}

// FetchAnswer is a Fetch's response, one entry per target in request order.
type FetchAnswer struct {
	Partitions []FetchPartitionAnswer
}

// FetchPartitionAnswer is one partition of a Fetch response. IncludeRecords
// says whether the records of the last read go in; those left out (over
// max_bytes) are released.
type FetchPartitionAnswer struct {
	ErrorCode        int16
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	IncludeRecords   bool
	// Diverging is the partition's diverging epoch (Fetch v12+), nil for
	// none.
	Diverging *DivergingEpoch
}

// NewFetch starts a Fetch: it reads every routed partition, or answers at
// once when none is.
func NewFetch(cfg FetchConfig, targets []FetchTarget) *Fetch {
	f := &Fetch{cfg: cfg, targets: targets, reads: make([]PartitionRead, len(targets))}
	for _, t := range targets {
		if t.ErrorCode == 0 {
			f.routed++
		}
	}
	if f.routed == 0 {
		f.answer()
	} else {
		f.ready.Read = true
	}
	return f
}

// Ready takes the effects accumulated since the last call.
func (f *Fetch) Ready() FetchReady {
	rd := f.ready
	f.ready = FetchReady{}
	return rd
}

// Answered says whether the Fetch has given its answer.
func (f *Fetch) Answered() bool { return f.phase == fetchAnswered }

// ReadCompleted reports the read Ready.Read asked for, by target (entries of
// unrouted targets are ignored; a partition that never answered is reported
// with its error).
func (f *Fetch) ReadCompleted(reads []PartitionRead, now Instant) {
	if f.phase != fetchReading || len(reads) != len(f.targets) {
		panic(fmt.Sprintf("fetch: read of %d partitions completed in phase %d with %d targets", len(reads), f.phase, len(f.targets)))
	}
	copy(f.reads, reads)
	f.decide(now)
}

// Woken reports that a parked watch woke (records came, or its partition
// stopped): the Fetch reads again, once per wait.
func (f *Fetch) Woken() {
	if f.phase == fetchParked {
		f.readAgain()
	}
}

// WokenWithRead reports the read a ReadOnWake watch of target index did when
// records came. It reports false when the Fetch no longer waits for it (it
// was answered or woken already): the shell releases the records.
func (f *Fetch) WokenWithRead(index int, read PartitionRead, now Instant) bool {
	if f.phase != fetchParked {
		return false
	}
	f.reads[index] = read
	f.decide(now)
	return true
}

// Tick tells the Fetch the time: a parked Fetch past its deadline reads once
// more and answers.
func (f *Fetch) Tick(now Instant) {
	if f.phase == fetchParked && now.MonoMs >= f.cfg.DeadlineMs {
		f.readAgain()
	}
}

// StopWaiting tells the Fetch the node is stopping: it answers after its
// next read, and a parked Fetch reads now.
func (f *Fetch) StopWaiting() {
	f.stopping = true
	if f.phase == fetchParked {
		f.readAgain()
	}
}

// NextDeadlineMs is when Tick has work (monotonic), or math.MaxInt64.
func (f *Fetch) NextDeadlineMs() int64 {
	if f.phase == fetchParked {
		return f.cfg.DeadlineMs
	}
	return math.MaxInt64
}

func (f *Fetch) readAgain() {
	f.phase = fetchReading
	f.ready.Read = true
}

// decide answers, or parks a watch in every routed partition.
func (f *Fetch) decide(now Instant) {
	var total int64
	failed := false
	for i, t := range f.targets {
		if t.ErrorCode != 0 {
			// A follower's partition this node could not route (its
			// image lacks the topic a moment after the follower's has
			// it) answers at once, as a read error does: the follower
			// backs off briefly and asks again, rather than learn of it
			// only at the deadline of the partitions parked with it.
			failed = failed || t.Follower != nil
			continue
		}
		if f.reads[i].ErrorCode != 0 || f.reads[i].Diverging != nil {
			failed = true
		}
		total += f.reads[i].RecordsBytes
	}
	if failed || total >= int64(f.cfg.MinBytes) || now.MonoMs >= f.cfg.DeadlineMs || f.stopping || f.connClosed {
		f.answer()
		return
	}
	f.phase = fetchParked
	f.ready.Watches = nil
	for i, t := range f.targets {
		if t.ErrorCode == 0 {
			w := FetchWatch{Index: i, FetchOffset: t.FetchOffset, DeadlineMs: f.cfg.DeadlineMs, ReadOnWake: f.routed == 1}
			// A partition waits for records past what its read covered,
			// with or without records: records already read, too few for
			// min_bytes, would wake it at once, and it would read them
			// again and park again until the deadline (a busy loop).
			if rd := f.reads[i]; rd.ReadUpTo > t.FetchOffset {
				w.WaitPast = rd.ReadUpTo
			}
			f.ready.Watches = append(f.ready.Watches, w)
		}
	}
}

// answer fills the response in request order within max_bytes: the first
// partition with records is always included whole, as Kafka does, so a
// consumer always makes progress; a later one only if it fits.
func (f *Fetch) answer() {
	f.phase = fetchAnswered
	f.ready.Watches = nil
	budget := int64(f.cfg.MaxBytes)
	if budget <= 0 {
		budget = math.MaxInt32
	}
	first := true
	ans := &FetchAnswer{Partitions: make([]FetchPartitionAnswer, len(f.targets))}
	for i, t := range f.targets {
		pa := &ans.Partitions[i]
		if t.ErrorCode != 0 {
			*pa = FetchPartitionAnswer{ErrorCode: t.ErrorCode, HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}
			continue
		}
		rd := f.reads[i]
		*pa = FetchPartitionAnswer{ErrorCode: rd.ErrorCode, HighWatermark: rd.HighWatermark, LastStableOffset: rd.LastStableOffset, LogStartOffset: rd.LogStartOffset,
			Diverging: rd.Diverging}
		if n := rd.RecordsBytes; n > 0 && (first || n <= budget) {
			pa.IncludeRecords = true
			budget -= n
			first = false
		}
	}
	f.ready.Answer = ans
}
