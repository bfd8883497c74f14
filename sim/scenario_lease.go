package sim

import (
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/groups"
)

// The scenario commands of committed offsets, to watch a group coordinator
// from outside (scenario.go lists the others):
//
//	offset-commit group=G tp=T/P offset=N   the admin commits an offset (a group without members) through
//	                                        the group's coordinator, retried until it answers without error
//	offset-fetch group=G tp=T/P node=N      the admin asks node N (or node=coordinator) for the offset
//	wait-group-coordinator group=G [not=N]  wait for the group's coordinator to load, on another node than N
//
// The coordinator of group G is the leader of its __consumer_offsets
// partition in the active controller's image.

// doOffsets runs an offsets command; it reports false for others.
func (s *Scenario) doOffsets(cmd string, args []Arg) bool {
	switch cmd {
	case "offset-commit":
		s.offsetCommit(args)
	case "offset-fetch":
		s.offsetFetch(args)
	case "wait-group-coordinator":
		s.waitGroupCoordinator(args)
	default:
		return false
	}
	return true
}

// groupCoordinatorOf is the leader of the group's __consumer_offsets
// partition, nil when there is none.
func (s *Scenario) groupCoordinatorOf(group string) *node {
	if p, ok := s.partitionRecord(tpKey{groups.OffsetsTopic, groups.PartitionFor(group, offsetsPartitions)}); ok && p.Leader >= 0 {
		return s.w.node(p.Leader)
	}
	return nil
}

// ensureOffsetsTopic creates __consumer_offsets when the cluster has none.
func (s *Scenario) ensureOffsetsTopic() {
	if _, ok := s.controller().image.Topic(groups.OffsetsTopic); ok {
		return
	}
	admin := s.clients["admin"]
	if !slices.ContainsFunc(admin.pendingTopics, func(t topicSpec) bool { return t.name == groups.OffsetsTopic }) {
		rf := int16(min(3, len(s.w.nodes)))
		admin.pendingTopics = append(admin.pendingTopics, topicSpec{name: groups.OffsetsTopic, partitions: offsetsPartitions, rf: rf,
			minISR: min(2, int(rf)), compacted: true})
	}
	s.waitTopic(groups.OffsetsTopic)
}

func (s *Scenario) offsetCommit(args []Arg) {
	s.ensureOffsetsTopic()
	group, tp := arg(args, "group", "g"), tpArg(args)
	offset, _ := strconv.ParseInt(arg(args, "offset", "0"), 10, 64)
	admin := s.clients["admin"]
	var at *node
	asking, done := false, false
	s.until(30_000, "the offset commit of "+group, func() bool {
		if done || asking {
			return done
		}
		n := s.groupCoordinatorOf(group)
		if n == nil {
			return false
		}
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.Generation = 7, group, -1
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = tp.partition, offset
		req.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: tp.topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
		asking = true
		admin.call(n.id, req, s.w.timing.requestTimeoutMs, func(body any, err error) {
			asking = false
			resp, _ := body.(*kmsg.OffsetCommitResponse)
			if err == nil && resp != nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 && resp.Topics[0].Partitions[0].ErrorCode == 0 {
				done, at = true, n
			}
		})
		return false
	})
	if done {
		s.printf("%s: offset %d of %s committed at %s", group, offset, tp, at.name())
	}
}

func (s *Scenario) offsetFetch(args []Arg) {
	group, tp := arg(args, "group", "g"), tpArg(args)
	var n *node
	if who := arg(args, "node", "coordinator"); who == "coordinator" {
		n = s.groupCoordinatorOf(group)
	} else if id, err := strconv.Atoi(who); err == nil && id >= 1 && id <= len(s.w.nodes) {
		n = s.w.node(int32(id))
	}
	if n == nil {
		s.printf("error: no node %s", arg(args, "node", "coordinator"))
		return
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group = 7, group
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: tp.topic, Partitions: []int32{tp.partition}}}
	var resp *kmsg.OffsetFetchResponse
	answered := false
	s.clients["admin"].call(n.id, req, s.w.timing.requestTimeoutMs, func(body any, _ error) {
		answered = true
		resp, _ = body.(*kmsg.OffsetFetchResponse)
	})
	if !s.until(s.w.timing.requestTimeoutMs+1000, "the answer of "+n.name(), func() bool { return answered }) {
		return
	}
	switch {
	case resp == nil:
		s.printf("%s: no answer", n.name())
	case resp.ErrorCode != 0:
		s.printf("%s answers %s: %s", n.name(), group, errorName(resp.ErrorCode))
	case len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1:
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			s.printf("%s answers %s: %s", n.name(), group, errorName(p.ErrorCode))
			return
		}
		s.printf("%s answers %s: %s at offset %d", n.name(), group, tp, p.Offset)
	default:
		s.printf("%s answers %s: %d topics", n.name(), group, len(resp.Topics))
	}
}

func (s *Scenario) waitGroupCoordinator(args []Arg) {
	group := arg(args, "group", "g")
	not, _ := strconv.Atoi(arg(args, "not", "0"))
	start := s.w.now
	var gh *groupHost
	if s.until(60_000, "the coordinator of "+group, func() bool {
		n := s.groupCoordinatorOf(group)
		if n == nil || !n.up || int(n.id) == not {
			return false
		}
		p := groups.PartitionFor(group, offsetsPartitions)
		if int(p) >= len(n.coords) {
			return false
		}
		gh = n.coords[p]
		return gh != nil && gh.loaded
	}) {
		s.printf("%s: coordinator %s (leader epoch %d) after %s", group, gh.n.name(), gh.epoch, fmtMs(s.w.now-start))
	}
}
