package groups

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore/internaltopic"
)

// Appends the partition refuses. An OffsetCommit's or a TxnOffsetCommit's
// offsets change the coordinator's state only once their append is
// acknowledged (offsets.go, txn_offsets.go), and so does a classic group's
// assignment (SyncGroup, classic_members.go); a static member taking over
// its instance's place in a stable group undoes the takeover when its
// record fails (classic_join.go): nothing is built on them before that. So
// when the partition refuses such an append before writing any of it (a
// batch larger than max.message.bytes, a fenced producer, too few in-sync
// replicas), only that operation fails, with its mapped error (a group
// record too large: UNKNOWN_SERVER_ERROR, as Kafka maps MESSAGE_TOO_LARGE),
// and the coordinator keeps its other groups and members, as Kafka's
// coordinator runtime reverts only the failed operation. Any other failure
// (the records may be in the log, or the leadership moved), and any
// failure of the other appends (a consumer group's epoch, which replies
// tell before it is acknowledged), still reverts the whole coordinator
// (replies.go).

// RefusedUnwritten says whether a produce error code means the partition
// wrote none of the batch: it refused it before the append. A shell that
// merged several of the core's appends into one batch, refused for its
// size, may send them again one by one.
func RefusedUnwritten(code int16) bool {
	switch code {
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidRecord.Code, kerr.CorruptMessage.Code,
		kerr.InvalidTimestamp.Code, kerr.UnsupportedForMessageFormat.Code, kerr.NotEnoughReplicas.Code,
		kerr.InvalidProducerEpoch.Code, kerr.ProducerFenced.Code, kerr.InvalidProducerIDMapping.Code,
		kerr.InvalidTxnState.Code, kerr.TransactionAbortable.Code, kerr.TransactionCoordinatorFenced.Code,
		kerr.ConcurrentTransactions.Code:
		return true
	}
	return false
}

// appendRefusable asks for records to be appended (as one transactional
// batch of producer when it is set) whose state applies only once
// acknowledged, or which done undoes, so a refusal fails this operation
// alone: done answers it with the error.
func (c *Coordinator) appendRefusable(records []internaltopic.Record, producer *Producer, done func(code int16, now internaltopic.Time)) {
	c.nextAppendID++
	c.appending[c.nextAppendID] = done
	c.refusable[c.nextAppendID] = true
	c.ready.Appends = append(c.ready.Appends, Append{ID: c.nextAppendID, Records: records, Producer: producer})
}

// refused reports a refused refusable append: its requests get the mapped
// error, and the appends after it go on.
func (c *Coordinator) refused(done func(int16, internaltopic.Time), code int16, now internaltopic.Time) {
	done(code, now)
	if !c.failed {
		c.advanceAcknowledged()
		c.releaseHeld()
	}
}

// dropUnwrittenGroup forgets a group that a refused commit created (a
// group that only stores offsets) when nothing else used it since: no
// record of it exists, as if the commit had never come.
func (c *Coordinator) dropUnwrittenGroup(g *group) {
	if c.groups[g.id] != g || g.kind != kindClassic || g.state != stateEmpty || len(g.members) > 0 || len(g.pending) > 0 ||
		len(g.offsets) > 0 || len(g.pendingCommits) > 0 || g.generation != 0 {
		return
	}
	for _, p := range c.txnOffsets {
		if p[g.id] != nil {
			return
		}
	}
	delete(c.groups, g.id)
}
