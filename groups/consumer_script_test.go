package groups

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumerCommand runs the consumer group commands of the scripts.
func consumerCommand(t *testing.T, h *harness, td *datadriven.TestData, id RequestID) {
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

func describeConsumerRecord(t *testing.T, h *harness, r Record) string {
	kr := kbin.Reader{Src: r.Key}
	version := kr.Int16()
	group := kr.String()
	if version != keyConsumerGroupMetadata || kr.Complete() != nil {
		t.Fatalf("unexpected record key %x", r.Key)
	}
	if r.Value == nil {
		return "delete consumer group " + group
	}
	vr := kbin.Reader{Src: r.Value}
	vr.Int16()
	return fmt.Sprintf("consumer group %s epoch=%d", group, vr.Int32())
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
