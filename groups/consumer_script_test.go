package groups

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// consumerCommand runs the consumer group commands of the scripts.
func consumerCommand(t *testing.T, h *harness, td *datadriven.TestData, id internaltopic.RequestID) {
	switch td.Cmd {
	case "consumer-heartbeat":
		h.c.Handle(id, h.consumerHeartbeatRequest(t, td), Client{ID: "c", Host: "/127.0.0.1"}, h.now)
	case "consumer-describe":
		req := kmsg.NewPtrConsumerGroupDescribeRequest()
		req.Version, req.Groups = h.version(t, td, 1), h.list(td, "groups")
		h.c.Handle(id, req, Client{}, h.now)
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
}

func (h *harness) topicID(name string) [16]byte {
	for _, t := range h.topics {
		if t.Name == name {
			return t.ID
		}
	}
	return [16]byte{0xff}
}

func (h *harness) topicName(id [16]byte) string {
	for _, t := range h.topics {
		if t.ID == id {
			return t.Name
		}
	}
	return "?"
}

func (h *harness) consumerHeartbeatRequest(t *testing.T, td *datadriven.TestData) *kmsg.ConsumerGroupHeartbeatRequest {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.InstanceID = h.version(t, td, 1), h.str(td, "group", ""), h.member(td), h.instance(td)
	td.ScanArgs(t, "epoch", &req.MemberEpoch)
	req.RebalanceTimeoutMillis = -1
	if req.MemberEpoch == 0 {
		req.RebalanceTimeoutMillis = 20000
	}
	td.MaybeScanArgs(t, "rebalance", &req.RebalanceTimeoutMillis)
	if td.HasArg("topics") {
		req.SubscribedTopicNames = h.list(td, "topics")
		if req.SubscribedTopicNames == nil {
			req.SubscribedTopicNames = []string{}
		}
	}
	if td.HasArg("regex") {
		r := h.str(td, "regex", "")
		req.SubscribedTopicRegex = &r
	}
	if td.HasArg("assignor") {
		a := h.str(td, "assignor", "")
		req.ServerAssignor = &a
	}
	if td.HasArg("owned") {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if items := h.list(td, "owned"); len(items) > 0 && items[0] != "" {
			tps, _ := partitions(t, td, items)
			for _, tp := range tps {
				id := h.topicID(tp.topic)
				if n := len(req.Topics); n == 0 || req.Topics[n-1].TopicID != id {
					req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id})
				}
				req.Topics[len(req.Topics)-1].Partitions = append(req.Topics[len(req.Topics)-1].Partitions, tp.partition)
			}
		}
	}
	return req
}

func describeConsumerRecord(t *testing.T, h *harness, r internaltopic.Record) string {
	kr := kbin.Reader{Src: r.Key}
	version := kr.Int16()
	group := kr.String()
	member := ""
	if version >= keyConsumerGroupMemberMetadata && version != keyConsumerGroupTargetMetadata {
		member = " " + h.alias(kr.String())
	}
	kind := map[int16]string{keyConsumerGroupMetadata: "group", keyConsumerGroupPartitionMetadata: "subscribed",
		keyConsumerGroupMemberMetadata: "member", keyConsumerGroupTargetMetadata: "target-epoch",
		keyConsumerGroupTargetMember: "target", keyConsumerGroupCurrentMember: "assignment"}[version]
	if kind == "" || kr.Complete() != nil {
		t.Fatalf("unexpected record key %x", r.Key)
	}
	if r.Value == nil {
		return fmt.Sprintf("delete consumer %s %s%s", kind, group, member)
	}
	vr := &kbin.Reader{Src: r.Value}
	vr.Int16()
	var out string
	switch version {
	case keyConsumerGroupMetadata:
		out = fmt.Sprintf("consumer group %s epoch=%d", group, vr.Int32())
	case keyConsumerGroupTargetMetadata:
		out = fmt.Sprintf("consumer target-epoch %s %d", group, vr.Int32())
	case keyConsumerGroupPartitionMetadata:
		cg := newConsumerGroup()
		h.c.readPartitionMetadata(cg, vr)
		var parts []string
		for _, name := range slices.Sorted(maps.Keys(cg.subscribed)) {
			parts = append(parts, fmt.Sprintf("%s:%d", name, cg.subscribed[name].partitions))
		}
		out = fmt.Sprintf("consumer subscribed %s [%s]", group, strings.Join(parts, " "))
	case keyConsumerGroupMemberMetadata:
		m := &consumerMember{}
		readMemberMetadata(m, vr)
		out = fmt.Sprintf("consumer member %s%s topics=%v", group, member, m.subscribedNames)
		if m.regex != "" {
			out += " regex=" + m.regex
		}
		if m.instanceID != nil {
			out += " instance=" + *m.instanceID
		}
	case keyConsumerGroupTargetMember:
		out = fmt.Sprintf("consumer target %s%s %s", group, member, tpsString(h.c.readTopicPartitions(vr, nil)))
	case keyConsumerGroupCurrentMember:
		epoch, prev, state := vr.Int32(), vr.Int32(), vr.Int8()
		at := map[topicPartition]int32{}
		assigned := h.c.readTopicPartitions(vr, at)
		revoking := h.c.readTopicPartitions(vr, at)
		var parts []string
		for _, tp := range assigned.sorted() {
			parts = append(parts, fmt.Sprintf("%s/%d@%d", tp.topic, tp.partition, at[tp]))
		}
		out = fmt.Sprintf("consumer assignment %s%s epoch=%d previous=%d state=%d [%s]", group, member, epoch, prev, state, strings.Join(parts, " "))
		if len(revoking) > 0 {
			out += " revoking=" + tpsString(revoking)
		}
	}
	skipTags(vr)
	if vr.Complete() != nil {
		t.Fatalf("record %s: value %x not read whole", out, r.Value)
	}
	return out
}

func (h *harness) heartbeatAssignment(a *kmsg.ConsumerGroupHeartbeatResponseAssignment) string {
	if a == nil {
		return "unchanged"
	}
	var parts []string
	for _, t := range a.Topics {
		for _, p := range t.Partitions {
			parts = append(parts, fmt.Sprintf("%s/%d", h.topicName(t.TopicID), p))
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func describeConsumerReply(h *harness, r Reply) string {
	id := fmt.Sprintf("id=%d", r.ID)
	switch resp := r.Response.(type) {
	case *kmsg.ConsumerGroupHeartbeatResponse:
		if resp.ErrorCode != 0 {
			return fmt.Sprintf("consumer-heartbeat-reply %s error=%s %q", id, errName(resp.ErrorCode), deref(resp.ErrorMessage))
		}
		return fmt.Sprintf("consumer-heartbeat-reply %s member=%s epoch=%d assignment=%s", id, h.alias(deref(resp.MemberID)), resp.MemberEpoch,
			h.heartbeatAssignment(resp.Assignment))
	case *kmsg.ConsumerGroupDescribeResponse:
		var lines []string
		for _, g := range resp.Groups {
			if g.ErrorCode != 0 {
				lines = append(lines, fmt.Sprintf("consumer-describe-reply %s group=%s error=%s", id, g.Group, errName(g.ErrorCode)))
				continue
			}
			lines = append(lines, fmt.Sprintf("consumer-describe-reply %s group=%s state=%s epoch=%d assignment-epoch=%d assignor=%s",
				id, g.Group, g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName))
			for _, m := range g.Members {
				lines = append(lines, fmt.Sprintf("  %s epoch=%d assigned=%s target=%s", h.alias(m.MemberID), m.MemberEpoch,
					describedTPs(m.Assignment), describedTPs(m.TargetAssignment)))
			}
		}
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("reply %s %T", id, r.Response)
}

func describedTPs(a kmsg.Assignment) string {
	var parts []string
	for _, t := range a.TopicPartitions {
		for _, p := range t.Partitions {
			parts = append(parts, fmt.Sprintf("%s/%d", t.Topic, p))
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func describeConsumerState(h *harness, g *group) string {
	cg := g.consumer
	var ms []string
	for _, m := range cg.sortedMembers() {
		state := map[memberState]string{memberStable: "stable", memberUnrevoked: "unrevoked", memberUnreleased: "unreleased"}[m.state]
		s := fmt.Sprintf("%s@%d(%s)%s", h.alias(m.id), m.epoch, state, tpsString(m.assigned))
		if len(m.revoking) > 0 {
			s += "-" + tpsString(m.revoking)
		}
		if m.leftStatic {
			s += "(left)"
		}
		ms = append(ms, s)
	}
	return fmt.Sprintf("group %s: consumer %s epoch=%d members=[%s]%s\n", g.id, cg.state(), cg.epoch, strings.Join(ms, " "), offsetsString(g))
}

func tpsString(set tpSet) string {
	var parts []string
	for _, tp := range set.sorted() {
		parts = append(parts, fmt.Sprintf("%s/%d", tp.topic, tp.partition))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
