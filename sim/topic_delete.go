package sim

import (
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic deletion, for the scenarios (delete-topic): the admin deletes a
// topic, and the simulator forgets what it knew of it once every running
// node dropped its replicas, so that a topic created again under the name
// starts a new history. A node down meanwhile keeps the old directory: at
// its start it must rename it aside (stray_dirs.go), or its replica of
// the new topic adopts the old records, which S4 and S12 (and the final
// read's Q1, Q11) then see.

// doTopics runs the topic deletion scenario commands.
func (s *Scenario) doTopics(cmd string, args []Arg) bool {
	switch cmd {
	case "delete-topic":
		s.deleteTopic(arg(args, "name", "t"))
	default:
		return false
	}
	return true
}

// deleteTopic deletes a topic and waits until the active controller's image
// holds it no more and no running node runs a replica of it.
func (s *Scenario) deleteTopic(name string) {
	w, admin := s.w, s.clients["admin"]
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version, req.TimeoutMillis = 5, 5000
	req.TopicNames = []string{name}
	deleted := false
	var send func()
	send = func() {
		admin.call(admin.controller(), req, w.timing.requestTimeoutMs, func(body any, err error) {
			resp, _ := body.(*kmsg.DeleteTopicsResponse)
			if err != nil || resp == nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
				if resp != nil && len(resp.Topics) == 1 {
					w.tracef("admin: delete topic %s: %s", name, codeName(resp.Topics[0].ErrorCode))
				} else {
					w.tracef("admin: delete topic %s: %v", name, err)
				}
				admin.meta.next++
				admin.meta.controller = -1
				w.schedule(w.now+200, send)
				return
			}
			deleted = true
		})
	}
	send()
	if !s.until(30_000, "the topic's deletion", func() bool {
		ctrl := w.activeController()
		if !deleted || ctrl == nil {
			return false
		}
		if _, ok := ctrl.image.Topic(name); ok {
			return false
		}
		for _, n := range w.nodes {
			if !n.up {
				continue
			}
			if _, ok := n.image.Topic(name); ok {
				return false
			}
			for k := range n.replicas {
				if k.topic == name {
					return false
				}
			}
		}
		return true
	}) {
		return
	}
	w.timelinef("admin: topic %s deleted", name)
	w.forgetTopic(name, false)
	s.printf("topic %s deleted", name)
}

// forgetTopic drops the history and the checkers' state of a deleted
// topic's partitions, and the clients' positions in them; what down nodes
// hold on disk stays. keepMeta leaves the clients' metadata of the topic as
// it is (stale: a consumer fetches the deleted id until it refreshes),
// else they forget it too.
func (w *World) forgetTopic(name string, keepMeta bool) {
	of := func(tp tpKey) bool { return tp.topic == name }
	h := w.hist
	h.sends = slices.DeleteFunc(h.sends, func(op *sendOp) bool { return of(op.tp) })
	h.polls = slices.DeleteFunc(h.polls, func(op *pollOp) bool { return of(op.tp) })
	h.seeks = slices.DeleteFunc(h.seeks, func(op *seekOp) bool { return of(op.tp) })
	c := w.checks
	maps.DeleteFunc(c.epochLeaders, func(k epochKey, _ int32) bool { return of(k.tp) })
	maps.DeleteFunc(c.newestEpoch, func(k tpKey, _ int32) bool { return of(k) })
	maps.DeleteFunc(c.imageEpoch, func(k tpKey, _ int32) bool { return of(k) })
	maps.DeleteFunc(c.replicaEpochs, func(k nodeTP, _ int32) bool { return of(k.tp) })
	maps.DeleteFunc(c.leaderHW, func(k nodeEpoch, _ int64) bool { return of(k.tp) })
	maps.DeleteFunc(c.chains, func(k batchKey, _ uint64) bool { return of(k.tp) })
	maps.DeleteFunc(c.committed, func(k tpKey, _ *committedPrefix) bool { return of(k) })
	maps.DeleteFunc(c.dropped, func(k tpKey, _ []offsetRange) bool { return of(k) })
	maps.DeleteFunc(c.truncated, func(k tpKey, _ []offsetRange) bool { return of(k) })
	maps.DeleteFunc(c.unclean, func(k tpKey, _ bool) bool { return of(k) })
	maps.DeleteFunc(c.lossyElection, func(k tpKey, _ int32) bool { return of(k) })
	maps.DeleteFunc(c.joinedISRMs, func(k nodeTP, _ int64) bool { return of(k.tp) })
	delete(c.lowestMinISR, name)
	maps.DeleteFunc(w.lossEra, func(k tpKey, _ int) bool { return of(k) })
	if keepMeta {
		// Created again: its partitions' producer state starts empty, as
		// after a loss of their records (out_of_order.go).
		for p := range int32(recreateMaxPartitions) {
			w.stateLost(tpKey{name, p})
		}
	} else {
		maps.DeleteFunc(w.stateLossEra, func(k tpKey, _ int) bool { return of(k) })
		maps.DeleteFunc(w.stateLostMs, func(k tpKey, _ int64) bool { return of(k) })
	}
	maps.DeleteFunc(w.compaction, func(k tpKey, _ *compactionLog) bool { return of(k) })
	for _, cl := range w.clients {
		maps.DeleteFunc(cl.positions, func(k tpKey, _ int64) bool { return of(k) })
		maps.DeleteFunc(cl.highWatermarks, func(k tpKey, _ int64) bool { return of(k) })
		if keepMeta {
			continue
		}
		maps.DeleteFunc(cl.meta.newestEpoch, func(k tpKey, _ int32) bool { return of(k) })
		maps.DeleteFunc(cl.meta.rewinds, func(k tpKey, _ int) bool { return of(k) })
		delete(cl.meta.topics, name)
	}
}
