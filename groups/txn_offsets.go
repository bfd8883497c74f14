package groups

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// Offsets committed inside transactions (TxnOffsetCommit): they are
// appended as transactional records of the producer and stay pending,
// invisible to OffsetFetch, until the transaction's marker reaches this
// partition: a commit marker makes them the group's committed offsets, an
// abort marker drops them. A load replays the same: records of a
// transactional batch are pending for its producer until its marker.

// Producer is the producer id and epoch of a transactional append.
type Producer struct {
	ID    int64
	Epoch int16
	// TransactionalID and TxnOffsetCommitVersion are the request's: the
	// partition leader adds its __consumer_offsets partition to the
	// transaction for a TxnOffsetCommit v5+ (KIP-890 part 2: the producer
	// sent no AddOffsetsToTxn).
	TransactionalID        string
	TxnOffsetCommitVersion int16
}

// txnPending holds one producer's pending offsets, by group.
type txnPending map[string]map[topicPartition]offsetEntry

// txnOffsetCommit serves TxnOffsetCommit: the group and member are
// checked as for OffsetCommit, the offsets are appended as the producer's
// transactional records, and kept pending once appended.
func (c *Coordinator) txnOffsetCommit(id internaltopic.RequestID, req *kmsg.TxnOffsetCommitRequest, now internaltopic.Time) {
	// The checks of OffsetCommit, on the request seen as one (v8: names,
	// generation and member; a commit from outside the group without
	// them).
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Version, oc.Group, oc.Generation, oc.MemberID, oc.InstanceID = 8, req.Group, -1, "", nil
	if req.Version >= 3 {
		oc.Generation, oc.MemberID, oc.InstanceID = req.Generation, req.MemberID, req.InstanceID
	}
	for _, t := range req.Topics {
		ot := kmsg.NewOffsetCommitRequestTopic()
		ot.Topic = t.Topic
		for _, p := range t.Partitions {
			op := kmsg.NewOffsetCommitRequestTopicPartition()
			op.Partition, op.Offset, op.LeaderEpoch, op.Metadata = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata
			ot.Partitions = append(ot.Partitions, op)
		}
		oc.Topics = append(oc.Topics, ot)
	}
	ans := newCommitAnswer(oc)
	respond := func() { c.reply(id, txnCommitResponse(req, ans)) }
	if !c.refuseUnknownPartitions(oc, ans) {
		respond()
		return
	}
	created := c.groups[req.Group] == nil
	g, fence, code := c.offsetCommitGroup(oc, true, now)
	if code != 0 {
		ans.setUnrefused(txnFenceCode(code))
		respond()
		return
	}
	if fence != nil {
		// TxnOffsetCommit has no STALE_MEMBER_EPOCH: a stale member
		// epoch is an illegal generation, as Kafka answers it.
		member := fence
		fence = func(tp topicPartition) int16 { return txnFenceCode(member(tp)) }
	}
	commits := c.planCommits(oc, ans, fence, now)
	if len(commits) == 0 {
		respond()
		return
	}
	records := offsetCommitRecords(g.id, commits)
	producer := Producer{ID: req.ProducerID, Epoch: req.ProducerEpoch, TransactionalID: req.TransactionalID, TxnOffsetCommitVersion: req.Version}
	c.appendRefusable(records, &producer, func(code int16, _ internaltopic.Time) {
		for _, cm := range commits {
			ans.codes[cm.i][cm.j] = txnCommitErrorCode(code)
			if code == 0 {
				c.addTxnOffset(producer.ID, g.id, cm.tp, cm.entry)
			}
		}
		if code != 0 && created {
			c.dropUnwrittenGroup(g)
		}
		respond()
	})
}

func txnCommitResponse(req *kmsg.TxnOffsetCommitRequest, ans *commitAnswer) *kmsg.TxnOffsetCommitResponse {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = req.Version
	for i, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for j, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, ans.codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (c *Coordinator) addTxnOffset(producerID int64, group string, tp topicPartition, e offsetEntry) {
	p := c.txnOffsets[producerID]
	if p == nil {
		p = txnPending{}
		c.txnOffsets[producerID] = p
	}
	if p[group] == nil {
		p[group] = map[topicPartition]offsetEntry{}
	}
	p[group][tp] = e
}

// TransactionMarker tells the coordinator that the marker of producerID's
// transaction was written to its partition: commit makes the offsets the
// producer committed in it the groups' committed offsets; an abort drops
// them. While loading it does nothing: the marker is in the log, after
// the records the load has replayed so far, and the load replays it in its
// place. Applied now, it would end whatever transaction of the producer
// the load is in the middle of (one that an earlier marker, not replayed
// yet, ended), with the later transaction's outcome.
func (c *Coordinator) TransactionMarker(producerID int64, commit bool) {
	if c.loading {
		return
	}
	c.replayMarker(producerID, commit)
}

// replayMarker applies the marker of producerID's transaction.
func (c *Coordinator) replayMarker(producerID int64, commit bool) {
	p := c.txnOffsets[producerID]
	delete(c.txnOffsets, producerID)
	if !commit || p == nil {
		return
	}
	groups := make([]string, 0, len(p))
	for id := range p {
		groups = append(groups, id)
	}
	slices.Sort(groups)
	var rewrite []internaltopic.Record
	for _, id := range groups {
		g := c.loadedGroup(id)
		for _, tp := range sortedPartitions(p[id]) {
			e := p[id][tp]
			if c.loading || !c.staleOffset(tp, e) {
				g.offsets[tp] = e
				continue
			}
			// Committed for a topic deleted (or deleted and created
			// again) since: it does not become the group's. A load
			// would replay it over what the group holds, so the group's
			// offset is written again after the marker (or a tombstone,
			// when it holds none).
			if cur, ok := g.offsets[tp]; ok {
				rewrite = append(rewrite, offsetCommitRecord(g.id, tp, cur))
			} else {
				rewrite = append(rewrite, offsetTombstone(g.id, tp))
			}
		}
		c.dropIfGone(g)
	}
	if len(rewrite) > 0 {
		c.appendTombstones(rewrite, func(int16, internaltopic.Time) {})
	}
}

// txnOffsetPending says whether a transaction holds an offset of group's
// tp not yet committed or aborted (OffsetFetch with RequireStable answers
// UNSTABLE_OFFSET_COMMIT for it).
func (c *Coordinator) txnOffsetPending(group string, tp topicPartition) bool {
	for _, p := range c.txnOffsets {
		if _, ok := p[group][tp]; ok {
			return true
		}
	}
	return false
}

// PendingTxnProducers lists the producer ids with offsets pending, sorted.
func (c *Coordinator) PendingTxnProducers() []int64 {
	out := make([]int64, 0, len(c.txnOffsets))
	for id := range c.txnOffsets {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// replayTxnOffset applies a loaded record of producerID's transactional
// batch: an offset commit pending until the transaction's marker.
func (c *Coordinator) replayTxnOffset(producerID int64, r internaltopic.Record) {
	if v := keyVersion(r.Key); v != 0 && v != 1 || r.Value == nil {
		return
	}
	var k kmsg.OffsetCommitKey
	var v kmsg.OffsetCommitValue
	if k.ReadFrom(r.Key) != nil || v.ReadFrom(r.Value) != nil {
		return
	}
	e := offsetEntry{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitWallMs: v.CommitTimestamp, topicID: v.TopicID}
	if v.Version >= 3 {
		e.leaderEpoch = v.LeaderEpoch
	}
	c.addTxnOffset(producerID, k.Group, topicPartition{topic: k.Topic, partition: k.Partition}, e)
}

// txnFenceCode is the TxnOffsetCommit answer for a committer an
// OffsetCommit would answer code: STALE_MEMBER_EPOCH is not among its
// errors (before KIP-1319's v6), so a stale member epoch is
// ILLEGAL_GENERATION.
func txnFenceCode(code int16) int16 {
	if code == kerr.StaleMemberEpoch.Code {
		return kerr.IllegalGeneration.Code
	}
	return code
}

// txnCommitErrorCode is commitErrorCode for the offsets of a transaction:
// the partition's refusals about the producer or its transaction (when it
// verified or added the partition) are the commit's answer.
func txnCommitErrorCode(code int16) int16 {
	switch code {
	case kerr.ProducerFenced.Code, kerr.InvalidProducerEpoch.Code, kerr.InvalidProducerIDMapping.Code,
		kerr.InvalidTxnState.Code, kerr.TransactionAbortable.Code:
		return code
	}
	return commitErrorCode(code)
}
