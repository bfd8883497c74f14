package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// DeleteRecords (Profile.DeleteRecordsEveryMs): the admin asks the leader
// of a partition of deleteTopic to delete the records below an offset, one
// past a value a producer had acknowledged there with acks=all, as an
// operator's kafka-delete-records does. The leader raises its log start
// offset and answers once the partition's low watermark, the least log
// start of the replicas that may lead, reached the offset
// (cluster/replica_delete.go). What that promises, checked here:
//
//   - Q15: no poll sent after the answer reads a record below the offset;
//   - S13: no replica leads the partition, at the leader epoch of the
//     answer or a later one, with its log starting below the offset
//     (every one that may become leader had raised its log start before
//     the answer).
//
// An election that may lose committed records (an unclean one, with
// unclean.leader.election.enable turned on meanwhile, or one from the last
// known ELR after power losses) may also bring deleted records back, as
// on Kafka: S13 and Q15 hold no leader epoch from such an election on to
// a deletion acknowledged before it (deletionLost), nor Q15 any poll of
// the partition (polls do not record the leader epoch that answered).
//
// Records below an offset any DeleteRecords asked for, answered or not,
// are gone on purpose: acknowledged writes there that no poll read are no
// loss (Q3, Q4).
//
// The topic is written by the plain producers and read by the assigned
// consumers only: group members and transactional or idempotent producers
// leave it out (sharedTopicNames), so that the groups' and transactions'
// checkers, which expect every record they wrote or were assigned to be
// read, need not know about deleted records.

// deleteTopic is the topic DeleteRecords plays on.
const deleteTopic = "dr"

// deleteRecordsTimeoutMs is the DeleteRecords request's timeout (how long
// the leader waits for the followers' log starts).
const deleteRecordsTimeoutMs = 3000

// deletedRecords is what the run asked to delete and what was
// acknowledged.
type deletedRecords struct {
	r *rand.Rand
	// asked is, per partition, the highest offset any DeleteRecords asked
	// for (sent, whatever its answer).
	asked map[tpKey]int64
	// acked are the acknowledged deletions in the order answered.
	acked []deleteAck
}

// deleteAck is an acknowledged DeleteRecords: the offset, when the answer
// came, and the newest leader epoch any leader of the partition had then.
type deleteAck struct {
	tp          tpKey
	offset      int64
	atMs        int64
	leaderEpoch int32
}

// startDeleteRecords has the admin create deleteTopic and delete records
// from it every Profile.DeleteRecordsEveryMs on average.
func (w *World) startDeleteRecords(admin *client) {
	if w.profile.DeleteRecordsEveryMs <= 0 {
		return
	}
	w.deleted = &deletedRecords{r: newRand(w.opts.Seed, streamDeleteRecords), asked: map[tpKey]int64{}}
	admin.pendingTopics = append(admin.pendingTopics, w.adminTopicSpec(deleteTopic))
	w.repeatWhileFaulty(w.deleted.r, w.profile.DeleteRecordsEveryMs, admin, admin.deleteRecords)
}

// deleteRecords asks the leader of a partition of deleteTopic to delete
// the records up to one acknowledged with acks=all there, drawn among
// those past what was asked before.
func (c *client) deleteRecords() {
	w, d := c.w, c.w.deleted
	t, ok := c.meta.topics[deleteTopic]
	if !ok || len(t.partitions) == 0 {
		return
	}
	tp := tpKey{deleteTopic, int32(d.r.IntN(len(t.partitions)))}
	asked, seen := d.asked[tp]
	var offsets []int64
	for _, s := range w.hist.sends {
		if s.tp == tp && s.outcome == outcomeOK && s.acks == -1 && (!seen || s.offset+1 > asked) {
			offsets = append(offsets, s.offset+1)
		}
	}
	leader, _ := c.leader(tp)
	if len(offsets) == 0 || leader < 0 {
		return
	}
	offset := offsets[d.r.IntN(len(offsets))]
	d.asked[tp] = max(asked, offset)
	w.stats.DeleteRecordsAsked++
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = deleteRecordsTimeoutMs
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = tp.topic
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = tp.partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	w.tracef("%s: delete records of %s below %d on %d", c.name(), tp, offset, leader)
	c.call(leader, req, w.timing.requestTimeoutMs, func(body any, err error) {
		resp, _ := body.(*kmsg.DeleteRecordsResponse)
		if err != nil || resp == nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			c.refreshMetadata()
			return
		}
		rp := resp.Topics[0].Partitions[0]
		if rp.ErrorCode != 0 {
			w.tracef("%s: delete records of %s below %d: %s", c.name(), tp, offset, codeName(rp.ErrorCode))
			c.refreshMetadata()
			return
		}
		if rp.LowWatermark < offset {
			w.violation("S13", fmt.Sprintf("%s: DeleteRecords below %d answered with the low watermark %d", tp, offset, rp.LowWatermark))
			return
		}
		w.stats.DeleteRecordsAcked++
		d.acked = append(d.acked, deleteAck{tp: tp, offset: offset, atMs: w.now, leaderEpoch: w.checks.newestEpoch[tp]})
		w.timelinef("admin: records of %s below %d deleted (low watermark %d)", tp, offset, rp.LowWatermark)
	})
}

// serveDeleteRecords hands each partition of a DeleteRecords to its
// replica and answers once every one answered (a replica stopped meanwhile
// answers NOT_LEADER_OR_FOLLOWER).
func (n *node) serveDeleteRecords(m *message, req *kmsg.DeleteRecordsRequest) {
	resp := kmsg.NewPtrDeleteRecordsResponse()
	pending, issued := 0, false
	answer := func(int16) {
		pending--
		if issued && pending == 0 {
			n.w.respond(m, resp)
		}
	}
	for _, t := range req.Topics {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		rt.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(t.Partitions))
		for i, p := range t.Partitions {
			rp := &rt.Partitions[i]
			*rp = kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.LowWatermark = p.Partition, kerr.NotLeaderForPartition.Code, -1
			h := n.replicas[tpKey{t.Topic, p.Partition}]
			if h == nil || h.core == nil {
				if tt, ok := n.image.Topic(t.Topic); !ok || p.Partition >= tt.PartitionCount() {
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
				continue
			}
			pending++
			id := h.await(waiter{kind: waitDeleteRecords, deleted: rp, done: answer})
			offset, timeoutMs := p.Offset, req.TimeoutMillis
			h.deliver(func() {
				h.core.DeleteRecords(id, offset, timeoutMs, n.instant())
				h.carryOut()
			})
		}
		resp.Topics = append(resp.Topics, rt)
	}
	issued = true
	if pending == 0 {
		n.w.respond(m, resp)
	}
}

// routeDeleteRecords hands the core's DeleteRecords answers to their
// waiters.
func (h *replicaHost) routeDeleteRecords(reps []cluster.DeleteRecordsReply) {
	for _, rep := range reps {
		if wt, ok := h.take(rep.ID); ok {
			wt.deleted.ErrorCode, wt.deleted.LowWatermark = rep.ErrorCode, rep.LowWatermark
			wt.done(rep.ErrorCode)
		}
	}
}

// deletedBelow says a DeleteRecords asked to delete offset of tp.
func (w *World) deletedBelow(tp tpKey, offset int64) bool {
	if w.deleted == nil {
		return false
	}
	asked, ok := w.deleted.asked[tp]
	return ok && offset < asked
}

// checkDeletedLeader is S13 for a replica that leads at its leader epoch:
// its log starts at or past every deletion acknowledged at that epoch or an
// earlier one.
func (c *serverChecks) checkDeletedLeader(n *node, h *replicaHost) {
	w := c.w
	if w.deleted == nil || h.log == nil {
		return
	}
	epoch, start := h.core.LeaderEpoch(), h.log.LogStartOffset()
	for _, a := range w.deleted.acked {
		if a.tp == h.key && epoch >= a.leaderEpoch && start < a.offset && !c.deletionLost(a, epoch) {
			w.violation("S13", fmt.Sprintf("%s leads %s at leader epoch %d with its log starting at %d, below the records deleted below %d at %s (leader epoch %d)",
				n.name(), h.key, epoch, start, a.offset, fmtMs(a.atMs), a.leaderEpoch))
			return
		}
	}
}

// deletionLost says an election that may lose committed records came
// after the deletion a was acknowledged, at or before leader epoch epoch.
func (c *serverChecks) deletionLost(a deleteAck, epoch int32) bool {
	lossy, ok := c.lossyElection[a.tp]
	return ok && lossy > a.leaderEpoch && lossy <= epoch
}

// checkDeletedReads is Q15: no poll sent after a DeleteRecords was
// acknowledged read a record below its offset.
func (c *historyChecker) checkDeletedReads() bool {
	w := c.w
	if w.deleted == nil {
		return true
	}
	for _, p := range w.hist.polls {
		for _, a := range w.deleted.acked {
			if a.tp != p.tp || a.atMs > p.sentMs || len(p.records) == 0 || w.checks.deletionLost(a, math.MaxInt32) {
				continue
			}
			w.stats.InvariantsChecked++
			if i := slices.IndexFunc(p.records, func(r readRecord) bool { return r.offset < a.offset }); i >= 0 {
				w.violation("Q15", fmt.Sprintf("%s polled %s at %s and read offset %d, below the records deleted below %d at %s",
					endpointName(p.process), p.tp, fmtMs(p.sentMs), p.records[i].offset, a.offset, fmtMs(a.atMs)))
				return false
			}
		}
	}
	return true
}

// sharedTopicNames are the workload's topics that group members and
// idempotent and transactional producers use: all but deleteTopic and
// retentionTopic (recreateTopic among them: topic_recreate_groups.go,
// topic_recreate_txn.go).
func (c *client) sharedTopicNames() []string {
	return slices.DeleteFunc(c.topicNames(), privateTopic)
}

// privateTopic says whether a topic is one group members and idempotent
// and transactional producers leave out: records deleted there on purpose
// (DeleteRecords, retention) are none of their checkers' business.
func privateTopic(name string) bool { return name == deleteTopic || name == retentionTopic }

// logStartOf is a replica's log start offset (its shadow's without a log).
func logStartOf(h *replicaHost) int64 {
	if h.log == nil {
		return h.shadow.start
	}
	return h.log.LogStartOffset()
}

// batchesFrom are the batches that end at or past offset from.
func batchesFrom(bs []shadowBatch, from int64) []shadowBatch {
	i := 0
	for i < len(bs) && bs[i].last < from {
		i++
	}
	return bs[i:]
}

// plantDeleteEarly is the delete-early plant: the DeleteRecords whose log
// start offset the leader's log just raised is answered at once, its
// followers' log starts unwaited for (the core's later answer finds no
// waiter).
func (h *replicaHost) plantDeleteEarly(id cluster.RequestID) {
	if h.n.w.opts.Plant != PlantDeleteEarly {
		return
	}
	wt, ok := h.waiting[id]
	if !ok || wt.kind != waitDeleteRecords {
		return
	}
	h.take(id)
	h.n.w.stats.PlantFired++
	wt.deleted.ErrorCode, wt.deleted.LowWatermark = 0, h.log.LogStartOffset()
	wt.done(0)
}
