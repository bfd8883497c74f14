package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
	"gregor/logstore"
)

// Topics deleted and created again (Profile.RecreateTopicEveryMs): the
// admin deletes recreateTopic by its id (DeleteTopics v6, so that a late
// or repeated request cannot delete the next topic of the name), waits
// until the id is gone from the active controller's image and from every
// running node (image and replicas), forgets what the checkers knew of the
// name (topic_delete.go) and creates the topic again: a new id, the same
// name, offsets from 0 again, while producers write it by name, consumers
// fetch it by id (Fetch v13), crashed nodes keep the old directories and
// metadata reaches nodes late. What must hold across a re-creation:
//
//   - S14: a topic id serves only its own records: no poll of an id reads a
//     value that a replica of another id of the name acknowledged (the new
//     topic never serves the old one's records, a fetch by the old id
//     never the new one's);
//   - S15: once the cluster converged, every partition directory a node
//     holds (not renamed aside or marked deleted) is one of a replica its
//     image gives it, of the topic id the image names, and every replica a
//     node runs has the image's id: the replicas of a deleted id are gone;
//   - a fetch by an id the serving node's image does not hold is answered
//     UNKNOWN_TOPIC_ID, as production's routes answer it
//     (actors/routes.go), which the consumers take as a cue to refresh
//     their metadata (Stats.UnknownTopicIDFetches counts them).
//
// The topic is written by the plain, idempotent and transactional
// producers (topic_recreate_txn.go) and read by the assigned consumers and
// the group members (topic_recreate_groups.go).

// recreateTopic is the topic deleted and created again.
const recreateTopic = "rc"

// recreations is what the run deleted and created again.
type recreations struct {
	r *rand.Rand
	// busy says a deletion is under way (the next waits for it).
	busy bool
	// retired are the deleted ids of recreateTopic.
	retired map[cluster.TopicID]bool
	// ackedBy is, by value sent to recreateTopic, the topic id of the
	// replica that acknowledged it.
	ackedBy map[string]cluster.TopicID
	// offsets is what S16 knows of the groups' commits to the topic
	// (topic_recreate_groups.go).
	offsets recreatedOffsets
	// era counts the ids deleted (topic_recreate_txn.go).
	era int
}

// adminTopicSpec is a topic the admin plays on (deleteTopic,
// recreateTopic): two partitions, replicated on up to three brokers, with
// the profile's min.insync.replicas.
func (w *World) adminTopicSpec(name string) topicSpec {
	return topicSpec{name: name, partitions: 2, rf: int16(min(3, len(w.nodes))), minISR: w.profile.MinISR}
}

// startRecreateTopic has the admin create recreateTopic, then delete and
// create it again every Profile.RecreateTopicEveryMs on average (after the
// last re-creation ended).
func (w *World) startRecreateTopic(admin *client) {
	if w.profile.RecreateTopicEveryMs <= 0 {
		return
	}
	rc := &recreations{r: newRand(w.opts.Seed, streamRecreateTopic), retired: map[cluster.TopicID]bool{}, ackedBy: map[string]cluster.TopicID{},
		offsets: newRecreatedOffsets()}
	w.recreated = rc
	// First, so that the re-creations start early in the run.
	admin.pendingTopics = append([]topicSpec{w.adminTopicSpec(recreateTopic)}, admin.pendingTopics...)
	w.repeatWhileFaulty(rc.r, w.profile.RecreateTopicEveryMs, admin, func() {
		if !rc.busy {
			admin.recreateTopic()
		}
	})
}

// recreateTopic deletes recreateTopic by its id in the active controller's
// image, waits until the id is gone, and creates the topic again.
func (c *client) recreateTopic() {
	w, rc := c.w, c.w.recreated
	ctrl := w.activeController()
	if ctrl == nil || slices.ContainsFunc(c.pendingTopics, func(t topicSpec) bool { return t.name == recreateTopic }) {
		return
	}
	t, ok := ctrl.image.Topic(recreateTopic)
	if !ok {
		return
	}
	id := t.ID
	rc.busy = true
	w.stats.TopicDeletionsAsked++
	w.timelinef("admin: delete topic %s (id %s)", recreateTopic, id)
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version, req.TimeoutMillis = 6, 5000
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.TopicID = id
	req.Topics = append(req.Topics, rt)
	deleted := false
	var send func()
	send = func() {
		if deleted {
			return
		}
		c.call(c.controller(), req, w.timing.requestTimeoutMs, func(body any, err error) {
			resp, _ := body.(*kmsg.DeleteTopicsResponse)
			if err == nil && resp != nil && len(resp.Topics) == 1 {
				switch resp.Topics[0].ErrorCode {
				case 0, kerr.UnknownTopicID.Code:
					deleted = true
					return
				case kerr.NotController.Code:
					c.meta.next++
					c.meta.controller = -1
				}
			} else {
				c.meta.next++
				c.meta.controller = -1
			}
			w.schedule(w.now+200, send)
		})
	}
	send()
	// The deletion's place in the metadata log: once the active
	// controller's image lost the id, every running node must have read
	// that far (a node the metadata reaches late may not even have
	// created the topic yet: it would start the deleted id's replicas
	// after the re-creation).
	gone := int64(-1)
	var wait func()
	wait = func() {
		if ctrl := w.activeController(); gone < 0 && deleted && ctrl != nil {
			if _, ok := ctrl.image.TopicByID(id); !ok {
				gone = ctrl.image.LastOffset()
			}
		}
		if gone < 0 || !w.topicIDGone(id, gone) {
			w.schedule(w.now+100, wait)
			return
		}
		rc.retired[id] = true
		w.forgetTopic(recreateTopic, true)
		rc.era++
		w.recreatedForgotten()
		w.stats.TopicsRecreated++
		w.timelinef("admin: topic %s (id %s) deleted: created again", recreateTopic, id)
		if !c.stopped {
			rc.busy = false
			c.pendingTopics = append(c.pendingTopics, w.adminTopicSpec(recreateTopic))
			return
		}
		// The workload ended meanwhile (the admin creates no more
		// topics): the topic is created again all the same, as the
		// consumers still know it, before convergence and the final read
		// (awaitRecreated).
		c.pendingTopics = append([]topicSpec{w.adminTopicSpec(recreateTopic)}, c.pendingTopics...)
		var create func()
		create = func() {
			if len(c.pendingTopics) == 0 || c.pendingTopics[0].name != recreateTopic {
				rc.busy = false
				return
			}
			c.refreshMetadata()
			c.createTopic(c.pendingTopics[0])
			w.schedule(w.now+1000, create)
		}
		create()
	}
	w.schedule(w.now+100, wait)
}

// awaitRecreated waits, after the heal, for a re-creation under way to
// end with the topic created again (L1 if it does not within boundMs), so
// that convergence and the final read see the topic that stays.
func (w *World) awaitRecreated(boundMs int64) bool {
	rc := w.recreated
	if rc == nil {
		return true
	}
	deadline := w.now + boundMs
	for !w.stopped {
		if !rc.busy {
			return true
		}
		if w.now >= deadline {
			w.violation("L1", fmt.Sprintf("topic %s not created again within %s after healing", recreateTopic, fmtMs(boundMs)))
			return false
		}
		w.runUntil(w.now + 250)
	}
	return false
}

// topicIDGone says the active controller's image no longer holds a topic
// id, and every running node read the metadata log up to offset and holds
// neither the id in its image nor a replica of it.
func (w *World) topicIDGone(id cluster.TopicID, offset int64) bool {
	ctrl := w.activeController()
	if ctrl == nil {
		return false
	}
	if _, ok := ctrl.image.TopicByID(id); ok {
		return false
	}
	for _, n := range w.nodes {
		if !n.up {
			continue
		}
		if n.image == nil || n.image.LastOffset() < offset {
			return false
		}
		if _, ok := n.image.TopicByID(id); ok {
			return false
		}
		for _, h := range n.replicas {
			if h.topicID == id {
				return false
			}
		}
	}
	return true
}

// recreatedAck notes which topic id acknowledged a value sent to
// recreateTopic, and says whether it is a deleted one (the checkers forgot
// its history: the value is no more promised than the topic's other
// records).
func (w *World) recreatedAck(op *sendOp, id cluster.TopicID) bool {
	if w.recreated == nil || op.tp.topic != recreateTopic || id == (cluster.TopicID{}) {
		return false
	}
	w.recreated.ackedBy[op.value] = id
	if w.recreated.retired[id] {
		w.tracef("%s: %s acknowledged by the deleted topic id %s", endpointName(op.process), op.value, id)
		return true
	}
	return false
}

// retiredPoll says a poll asked for a deleted id: its answer belongs to no
// topic the checkers follow (they forgot the name's past).
func (w *World) retiredPoll(id cluster.TopicID) bool {
	return w.recreated != nil && w.recreated.retired[id]
}

// checkRecreatedPollAnswer is S14 for a poll of recreateTopic by id: every
// value its answer carries was acknowledged by a replica of that id, if by
// any.
func (w *World) checkRecreatedPollAnswer(process int32, tp tpKey, id cluster.TopicID, rp *kmsg.FetchResponseTopicPartition, readCommitted bool) {
	if w.recreated == nil || tp.topic != recreateTopic || rp.ErrorCode != 0 || len(rp.RecordBatches) == 0 {
		return
	}
	recs, _, err := decodeRecords(rp.RecordBatches, rp.AbortedTransactions, readCommitted)
	if err != nil {
		return // polled's Q1 says so, when the poll is recorded
	}
	for _, r := range recs {
		w.stats.InvariantsChecked++
		if by, ok := w.recreated.ackedBy[r.value]; ok && r.kind == recData && by != id {
			w.violation("S14", fmt.Sprintf("%s polled %s of topic id %s and read %q at offset %d, which a replica of topic id %s acknowledged",
				endpointName(process), tp, id, r.value, r.offset, by))
			return
		}
	}
}

// leaveDir notes a partition directory a disk fault left behind (its
// removal or renaming failed), which checkNoStaleReplicas excuses.
func (n *node) leaveDir(name string) {
	if n.leftDirs == nil {
		n.leftDirs = map[string]bool{}
	}
	n.leftDirs[name] = true
}

// checkNoStaleReplicas is S15, once the cluster converged: every replica a
// running node runs has its image's topic id, and every partition
// directory it holds (not renamed aside or marked deleted) is one its image
// gives it, recording the image's topic id. A directory whose removal
// failed (a disk fault) is excused.
func (w *World) checkNoStaleReplicas() {
	for _, n := range w.nodes {
		if !n.up || n.image == nil || !n.replicasOn {
			continue
		}
		for _, k := range n.keys {
			h := n.replicas[k]
			if h == nil {
				continue
			}
			w.stats.InvariantsChecked++
			if t, ok := n.image.Topic(k.topic); !ok || t.ID != h.topicID {
				w.violation("S15", fmt.Sprintf("%s runs a replica of %s of topic id %s, which its image does not hold", n.name(), k, h.topicID))
				return
			}
		}
		names, err := n.fs.ReadDir(dataDir)
		if err != nil {
			continue
		}
		for _, name := range names {
			topic, partition, ok := cluster.ParsePartitionDir(name)
			if !ok || n.leftDirs[name] {
				continue
			}
			dir := dataDir + "/" + name
			if fi, err := n.fs.Stat(dir); err != nil || !fi.IsDir() {
				continue
			}
			w.stats.InvariantsChecked++
			want, hosted := cluster.HostedPartitionDir(n.image, n.id, name)
			if !hosted {
				w.violation("S15", fmt.Sprintf("%s holds the directory %s, though its image gives it no replica of %s", n.name(), name, tpKey{topic, partition}))
				return
			}
			if got, ok, err := logstore.ReadPartitionMetadata(n.fs, dir); ok && err == nil && got != want {
				w.violation("S15", fmt.Sprintf("%s holds the directory %s of topic id %s, though its image's %s has id %s", n.name(), name, got, topic, want))
				return
			}
		}
	}
}
