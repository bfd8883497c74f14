package actors

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore"
)

// carryOut performs the core's effects until it has none left (a completion
// fed back may produce more), then publishes the high watermark and arms the
// next tick. A fatal effect stops the actor after the replies went out.
func (a *partitionActor) carryOut() {
	if a.core == nil {
		return
	}
	for {
		rd := a.core.Ready()
		if rd.Empty() {
			a.core.Recycle(&rd)
			break
		}
		a.perform(&rd)
		a.replicate(&rd)
		a.reply(&rd)
		if rd.Fatal != nil {
			a.logger.Error("partition offline: its log is corrupt or cannot be written", zap.Error(rd.Fatal))
			panic(fmt.Errorf("%w: %w", errPartitionUnusable, rd.Fatal))
		}
		a.core.Recycle(&rd)
	}
	hw := a.core.HighWatermark()
	a.highWatermark.Store(hw)
	// Every in-sync follower has the batches below the high watermark.
	a.log.ReleaseHeldBelow(hw)
	a.armTimer()
	a.board.publishFrom(a.core)
}

// perform carries out the storage effects in Ready's order, reporting each
// completion to the core.
func (a *partitionActor) perform(rd *cluster.Ready) {
	if rd.ConfigureLog != nil {
		if err := a.log.SetConfig(*rd.ConfigureLog); err != nil {
			a.logger.Error("topic configs not applied to the log", zap.Error(err))
		} else {
			a.board.syncsAppends.Store(syncsAppends(*rd.ConfigureLog))
		}
	}
	if rd.AssignEpochStart != nil {
		err := a.log.AssignEpochStartOffset(rd.AssignEpochStart.Epoch)
		a.core.EpochStartAssigned(a.log.LeaderEpochs(), err)
	}
	a.performFollower(rd)
	a.appendAll(rd.Appends)
	a.verifyTxns(rd.VerifyTxns)
	for _, offset := range rd.AwaitDurable {
		a.awaitDurable(offset)
	}
	for _, rr := range rd.Reads {
		recs, err := a.readLog(rr)
		if err != nil && !errors.Is(err, kerr.OffsetOutOfRange) {
			a.logger.Error("read log", zap.Int64("offset", rr.Offset), zap.Error(err))
		}
		a.core.ReadCompleted(rr.ID, recs, err)
	}
	for _, l := range rd.Lookups {
		a.lookup(l)
	}
	for _, adv := range rd.LogStartAdvances {
		err := a.log.AdvanceLogStartOffset(adv.Offset)
		if err != nil {
			a.logger.Error("advance log start offset", zap.Int64("offset", adv.Offset), zap.Error(err))
		}
		a.core.LogStartAdvanced(adv.ID, a.log.LogStartOffset(), err)
	}
	if rd.TickLog != nil {
		if err := a.log.Tick(rd.TickLog.NowMs); err != nil {
			a.logger.Error("log housekeeping", zap.Error(err))
		}
		a.core.Flushed(a.log.FlushedOffset())
	}
	if rd.DeleteRetainedSegments != nil {
		a.deleteRetainedSegments(*rd.DeleteRetainedSegments)
	}
	if rd.PlanCompaction != nil {
		a.core.CompactionPlanned(a.planCompaction(*rd.PlanCompaction))
	}
	if rd.FinishCompaction != nil {
		a.finishCompaction(rd.FinishCompaction.Commit)
	}
	a.log.RemoveProducers(rd.ExpireProducers)
}

func (a *partitionActor) lookup(l cluster.LookupTimestamp) {
	var to logstore.TimestampOffset
	var found bool
	var err error
	if l.MaxTimestamp {
		to, found, err = a.log.OffsetOfMaxTimestamp()
	} else {
		to, found, err = a.log.OffsetForTimestamp(l.TimestampMs)
	}
	if err != nil {
		a.logger.Error("offset lookup by timestamp", zap.Error(err))
	}
	a.core.TimestampLookedUp(l.ID, to, found, err)
}

// reply answers the requests the core is done with.
func (a *partitionActor) reply(rd *cluster.Ready) {
	for _, rep := range rd.ProduceReplies {
		if msg, ok := a.take(rep.ID).(*producePartition); ok {
			msg.answer(producePartitionResult{errorCode: rep.ErrorCode, errorMessage: rep.ErrorMessage, recordErrors: rep.RecordErrors,
				baseOffset: rep.BaseOffset, logAppendTimeMs: rep.LogAppendTimeMs, logStartOffset: rep.LogStartOffset,
				currentLeader: hintOf(rep.CurrentLeader)})
		}
	}
	for _, rep := range rd.FetchReplies {
		res := fetchPartitionResult{errorCode: rep.ErrorCode, highWatermark: rep.HighWatermark,
			lastStableOffset: rep.LastStableOffset, logStartOffset: rep.LogStartOffset, readUpTo: rep.ReadUpTo, records: rep.Records,
			currentLeader: hintOf(rep.CurrentLeader), diverging: rep.Diverging}
		if res.records != nil {
			res.bytesOut = a.bytesOut
		}
		switch msg := a.take(rep.ID).(type) {
		case *fetchPartition:
			a.addAbortedTxns(&res, msg.isolationLevel)
			msg.reply(res)
		case *watchPartition:
			a.addAbortedTxns(&res, msg.fetch.isolationLevel)
			msg.fetch.reply(res)
		default:
			panic(fmt.Sprintf("partition actor: fetch reply %d for %T", rep.ID, msg))
		}
	}
	for _, rep := range rd.ListOffsetsReplies {
		a.take(rep.ID).(*listOffsetsPartition).reply(listOffsetsResult{errorCode: rep.ErrorCode,
			timestampMs: rep.TimestampMs, offset: rep.Offset, leaderEpoch: rep.LeaderEpoch})
	}
	for _, rep := range rd.DeleteRecordsReplies {
		a.take(rep.ID).(*deleteRecordsPartition).reply(deleteRecordsResult{errorCode: rep.ErrorCode, lowWatermark: rep.LowWatermark})
	}
	for _, rep := range rd.EpochEndReplies {
		a.take(rep.ID).(*epochEndPartition).reply(rep)
	}
	for _, w := range rd.Woken {
		// An expired watch needs nothing: its fetch has its own timer.
		if msg := a.take(w.ID).(*watchPartition); !w.Expired {
			msg.notify()
		}
	}
}

// take removes and returns the request message the core answered.
func (a *partitionActor) take(id cluster.RequestID) any {
	msg := a.waiting[id]
	delete(a.waiting, id)
	return msg
}
