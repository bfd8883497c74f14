package actors

import (
	"slices"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore"
)

// The partition actor's replication: the record's changes fed to the core,
// the follower's log work (truncation, appends as follower, the log start
// offset), its fetch state handed to the node's fetcher manager and the
// fetchers' outcomes handed back, the leader's AlterPartition sent to the
// controller, and OffsetForLeaderEpoch served.

// partitionChanged tells a partition actor its partition's record changed
// in the metadata image (leader, epochs, ISR or replicas).
type partitionChanged struct{ image cluster.PartitionImage }

// leaderAnswered hands a follower what its leader answered, through the
// node's fetcher of that leader, for a fetch state of the actor's
// incarnation (an answer for an earlier incarnation is dropped: a rebuilt
// core numbers its states afresh).
type leaderAnswered struct {
	incarnation uint64
	outcome     cluster.FetcherOutcome
	// release lets go of the fetch response the outcome's records alias,
	// once they are appended (nil: nothing to let go).
	release func()
}

// releaseRecords lets go of the response the records alias; idempotent.
func (m *leaderAnswered) releaseRecords() {
	if m.release != nil {
		m.release()
		m.release = nil
	}
}

// epochEndPartition asks a partition actor where a leader epoch ends in its
// log (one partition of OffsetForLeaderEpoch).
type epochEndPartition struct {
	req   cluster.OffsetForLeaderEpochRequest
	reply func(cluster.EpochEndReply)
}

// alterPartitionAnswered is the controller's answer to a partition's
// AlterPartition (or the transport's failure, as a retriable code).
type alterPartitionAnswered struct{ result cluster.AlterPartitionResult }

func (m *epochEndPartition) answerUndelivered() {
	m.reply(cluster.EpochEndReply{ErrorCode: kerr.NotLeaderForPartition.Code, LeaderEpoch: -1, EndOffset: -1})
}
func (*partitionChanged) answerUndelivered() {}
func (m *leaderAnswered) answerUndelivered() { m.releaseRecords() }

// runsInline implements inlineMessage: the fetcher hands the leader's
// answer over on the goroutine that took it.
func (*leaderAnswered) runsInline() bool           { return true }
func (*alterPartitionAnswered) answerUndelivered() {}

// partitionIncarnations numbers the starts of partition actors.
var partitionIncarnations atomic.Uint64

// hintOf is the leader hint an answer carries, nil for none.
func hintOf(h cluster.LeaderHint) *cluster.LeaderHint {
	if h.LeaderID < 0 && h.LeaderEpoch < 0 {
		return nil
	}
	hint := h // only a hint escapes: h itself would be moved to the heap on every call
	return &hint
}

// fetcherPartition names the partition to the fetchers.
func (a *partitionActor) fetcherPartition() cluster.FetcherPartition {
	return cluster.FetcherPartition{Topic: a.assigned.topic, TopicID: a.assigned.topicID, Partition: a.assigned.image.Partition}
}

// leaderAnswered feeds a fetcher's outcome to the follower core.
func (a *partitionActor) leaderAnswered(msg *leaderAnswered) {
	if msg.incarnation != a.incarnation {
		return
	}
	now := a.node.cfg.Clock.Now()
	switch o := msg.outcome; {
	case o.Fetch != nil:
		a.core.FetchedFromLeader(*o.Fetch, now)
	case o.EpochEnd != nil:
		a.core.EpochEndOffsetFetched(*o.EpochEnd, now)
	}
}

// readLog reads for a fetch; a follower's read leaves the log's tail as it
// is (the records go out from the file by sendfile).
func (a *partitionActor) readLog(rr cluster.ReadRecords) (*logstore.Records, error) {
	if rr.Follower {
		return a.log.ReadUntailed(rr.Offset, rr.MaxBytes, rr.MaxOffset)
	}
	return a.log.Read(rr.Offset, rr.MaxBytes, rr.MaxOffset)
}

// performFollower carries out a follower's log work in Ready's order:
// truncate, append as follower, raise the log start offset.
func (a *partitionActor) performFollower(rd *cluster.Ready) {
	if t := rd.Truncate; t != nil {
		var err error
		if t.Fully {
			err = a.log.TruncateFullyAndStartAt(t.Offset, t.NowMs)
		} else {
			err = a.log.Truncate(t.Offset, t.NowMs)
		}
		if err != nil {
			a.logger.Error("truncate as follower", zap.Int64("offset", t.Offset), zap.Bool("fully", t.Fully), zap.Error(err))
		} else if t.Offset < a.log.LogEndOffset() || t.Fully {
			a.logger.Info("log truncated as follower", zap.Int64("offset", t.Offset), zap.Bool("fully", t.Fully))
		}
		a.core.Truncated(cluster.TruncateOutcome{LogStartOffset: a.log.LogStartOffset(), LogEndOffset: a.log.LogEndOffset(),
			FlushedOffset: a.log.FlushedOffset(), LeaderEpochs: a.log.LeaderEpochs(), Producers: a.log.ProducerStates()}, err)
		a.publishGauges()
	}
	if ap := rd.FollowerAppend; ap != nil {
		_, err := a.log.AppendAsFollower(ap.Batches, ap.NowMs)
		if err != nil {
			a.logger.Warn("append as follower", zap.Error(err))
		}
		a.core.FollowerAppendCompleted(cluster.FollowerAppendOutcome{LogEndOffset: a.log.LogEndOffset(),
			FlushedOffset: a.log.FlushedOffset(), LeaderEpochs: a.log.LeaderEpochs()}, err)
		a.endOffsetGauge.Set(float64(a.log.LogEndOffset()))
	}
	if rl := rd.RaiseLogStart; rl != nil {
		err := a.log.AdvanceLogStartOffset(rl.Offset)
		if err != nil {
			a.logger.Warn("follow the leader's log start offset", zap.Int64("offset", rl.Offset), zap.Error(err))
		}
		a.core.LogStartRaised(a.log.LogStartOffset(), err)
	}
}

// replicate sends what the core asks of others: the AlterPartition to the
// controller, the follower's fetch state to its leader's fetcher
// (publishFetchState).
func (a *partitionActor) replicate(rd *cluster.Ready) {
	if rd.AbandonAlterPartition {
		a.abandonAlterPartition()
	}
	if rd.AlterPartition != nil {
		a.sendAlterPartition(*rd.AlterPartition)
	}
	if st := rd.FetchState; st != nil {
		a.publishFetchState(*st, false)
	}
}

// fetchRoute is what this incarnation last told the fetcher manager of its
// fetching: told says it told it anything, leader is the leader fetched
// from (-1: none, the follower idles or leads).
type fetchRoute struct {
	told   bool
	leader int32
}

// fetchStateWanted asks a partition actor to hand its fetch state to the
// fetcher manager again: the fetcher of its leader failed, and the one
// started in its place knows nothing of it.
type fetchStateWanted struct{}

func (*fetchStateWanted) answerUndelivered() {}

// publishFetchState hands a follower's new fetch state straight to the
// fetcher of its leader (replica_fetcher_directory.go), and to the fetcher
// manager only when the manager must act on it: the state moves the
// partition to another leader, or out of fetching, or is this
// incarnation's first, or no fetcher of the leader runs yet (or wanted:
// the manager asked for it). A state that only moves the fetch on (the
// fetcher's round trips) costs one message instead of three (the
// manager's copy, and the manager's copy to the fetcher, which the fetcher
// dropped as no newer than the shortcut's): on an RF3 transactional
// cluster those were two of every three fetch-state messages.
func (a *partitionActor) publishFetchState(st cluster.FollowerFetchState, wanted bool) {
	owner := fetcherOwner{pid: a.self, incarnation: a.incarnation}
	leader := st.Leader
	if st.Phase == cluster.FollowerIdle {
		leader = -1
	}
	delivered := a.node.shortcutFetchState(a.fetcherPartition(), st, owner)
	if wanted || !delivered || !a.route.told || a.route.leader != leader {
		a.route = fetchRoute{told: true, leader: leader}
		a.node.send(a.assigned.fetchers, &followerStateChanged{partition: a.fetcherPartition(), state: st, owner: owner})
	}
}

// forgetFetchState tells the fetcher manager this incarnation fetches no
// more (the actor stops or restarts).
func (a *partitionActor) forgetFetchState() {
	if a.core != nil {
		a.node.send(a.assigned.fetchers, &followerStopped{partition: a.fetcherPartition(), incarnation: a.incarnation})
	}
}

// sendAlterPartition asks the active controller for the ISR change (Kafka's
// AlterPartition v3, topics by id, every member with its broker epoch);
// the answer, or the failure to get one, comes back as
// alterPartitionAnswered.
func (a *partitionActor) sendAlterPartition(ap cluster.AlterPartitionRequest) {
	n := a.node
	epoch := n.brokerEpoch()
	req := kmsg.NewPtrAlterPartitionRequest()
	req.Version = 3
	req.BrokerID, req.BrokerEpoch = n.cfg.NodeID, epoch
	t := kmsg.NewAlterPartitionRequestTopic()
	t.Topic, t.TopicID = a.assigned.topic, a.assigned.topicID
	p := kmsg.NewAlterPartitionRequestTopicPartition()
	p.Partition, p.LeaderEpoch, p.PartitionEpoch = a.assigned.image.Partition, ap.LeaderEpoch, ap.PartitionEpoch
	p.NewISR = slices.Clone(ap.ISR)
	for i, id := range ap.ISR {
		e := ap.BrokerEpochs[i]
		if id == n.cfg.NodeID && e < 0 {
			e = epoch
		}
		p.NewEpochISR = append(p.NewEpochISR, kmsg.AlterPartitionRequestTopicPartitionNewEpochISR{BrokerID: id, BrokerEpoch: e})
	}
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	a.logger.Info("asking the controller to change the ISR", zap.Int32s("isr", ap.ISR), zap.Int32("leader_epoch", ap.LeaderEpoch),
		zap.Int32("partition_epoch", ap.PartitionEpoch))
	self, root, seq, partition, logger := a.self, n.system.Root, ap.Seq, a.assigned.image.Partition, a.logger
	a.abandonAlterPartition() // none should be on its way: the core waits for an answer before it asks again
	a.alterCall = n.sendToControllerWithin(req, n.controllerTimeout(req), func(resp kmsg.Response, err error) {
		res := alterPartitionResult(resp, err, partition)
		res.Seq = seq
		if res.ErrorCode != 0 {
			logger.Info("the controller did not change the ISR", zap.Int32s("isr", ap.ISR), zap.Error(kerr.ErrorForCode(res.ErrorCode)))
		}
		root.Send(self, &alterPartitionAnswered{result: res})
	})
}

// abandonAlterPartition stops the AlterPartition on its way, if any: the
// core no longer waits for its answer (cluster.Ready.AbandonAlterPartition),
// or the actor stops. The call asks no controller after, and its answer,
// should one be on its way, never comes.
func (a *partitionActor) abandonAlterPartition() {
	if a.alterCall != nil {
		a.alterCall.cancel()
		a.alterCall = nil
	}
}

// alterPartitionResult is the answer for one partition of an AlterPartition
// sent alone; a transport failure or a request-level error is reported with
// a code the core retries on.
func alterPartitionResult(resp kmsg.Response, err error, partition int32) cluster.AlterPartitionResult {
	res := cluster.AlterPartitionResult{ErrorCode: kerr.RequestTimedOut.Code, LeaderEpoch: -1, PartitionEpoch: -1}
	r, ok := resp.(*kmsg.AlterPartitionResponse)
	switch {
	case err != nil || !ok:
		return res
	case r.ErrorCode != 0:
		res.ErrorCode = r.ErrorCode
		return res
	}
	for _, t := range r.Topics {
		for _, p := range t.Partitions {
			if p.Partition == partition {
				return cluster.AlterPartitionResult{ErrorCode: p.ErrorCode, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: p.ISR}
			}
		}
	}
	return res
}

// brokerEpoch is this broker's epoch as the metadata image has its
// registration, -1 until it is registered.
func (n *Node) brokerEpoch() int64 {
	if b, ok := n.routes.load().image.Broker(n.cfg.NodeID); ok && b.IncarnationID == n.incarnation {
		return b.Epoch
	}
	return -1
}
