package actors

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// offsetForLeaderEpoch serves OffsetForLeaderEpoch (API 23): for each
// partition, where the asked leader epoch ends in the leader's log, as its
// replica core answers it (the leader epoch checked, KIP-320). Followers
// truncate by it before fetching (KIP-101, KIP-279); consumers check their
// position by it after a leader change.
func (r *router) offsetForLeaderEpoch(body *kmsg.OffsetForLeaderEpochRequest, respond func(kmsg.Response)) {
	resp := body.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	rt := r.node.routes.load()
	fo := &fanOut[cluster.EpochEndReply]{}
	for ti, t := range body.Topics {
		rtopic := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rtopic.Topic = t.Topic
		topic, ok := rt.image.Topic(t.Topic)
		for pi, p := range t.Partitions {
			rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			rp.Partition, rp.LeaderEpoch, rp.EndOffset = p.Partition, -1, -1
			pid, code := rt.route(topic, ok, false, p.Partition)
			rp.ErrorCode = code
			if code == 0 {
				// Overwritten by the answer; stays if none comes in time.
				rp.ErrorCode = kerr.RequestTimedOut.Code
				msg := epochEndPartition{req: cluster.OffsetForLeaderEpochRequest{CurrentLeaderEpoch: p.CurrentLeaderEpoch, LeaderEpoch: p.LeaderEpoch}}
				fo.ask(pid, func(rep cluster.EpochEndReply) {
					out := &resp.Topics[ti].Partitions[pi]
					out.ErrorCode, out.LeaderEpoch, out.EndOffset = rep.ErrorCode, rep.LeaderEpoch, rep.EndOffset
				}, func(reply func(cluster.EpochEndReply)) any { msg.reply = reply; return &msg })
			}
			rtopic.Partitions = append(rtopic.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rtopic)
	}
	fo.run(r.node.system.Root, offsetsRequestTimeout, func() { respond(resp) })
}
