package actors

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// KIP-951: a Produce (v10+) or Fetch (v12+) partition answered
// NOT_LEADER_OR_FOLLOWER or FENCED_LEADER_EPOCH carries the leader and
// leader epoch as this broker knows them, and the response lists the
// endpoints of the leaders it names (Produce v10+, Fetch v16+), so that a
// client re-routes without asking for metadata first.

// hintedCode says whether an error code carries a leader hint.
func hintedCode(code int16) bool {
	return code == kerr.NotLeaderForPartition.Code || code == kerr.FencedLeaderEpoch.Code
}

// imageLeaderHint is a partition's leader as the image has it, for answers
// the partition's actor did not give (nil when the image names none, or
// names this node, whose actor is then offline).
func (n *Node) imageLeaderHint(t *cluster.TopicImage, found bool, partition int32) *cluster.LeaderHint {
	if !found || partition < 0 || partition >= t.PartitionCount() {
		return nil
	}
	p := t.Partitions[partition]
	if p.Leader < 0 || p.Leader == n.cfg.NodeID {
		return nil
	}
	return &cluster.LeaderHint{LeaderID: p.Leader, LeaderEpoch: p.LeaderEpoch}
}

// hintedLeaders are the brokers named by a response's hints.
type hintedLeaders []int32

func (h *hintedLeaders) add(id int32) {
	if id >= 0 && !slices.Contains(*h, id) {
		*h = append(*h, id)
	}
}

// endpoints lists the client endpoints of the hinted brokers the image
// knows, in id order.
func (h hintedLeaders) endpoints(n *Node, img *cluster.MetadataImage) []liveBroker {
	slices.Sort(h)
	var out []liveBroker
	for _, id := range h {
		b, ok := img.Broker(id)
		if !ok {
			continue
		}
		if e, ok := b.Endpoint(n.cfg.ListenerName); ok {
			out = append(out, liveBroker{id: id, host: e.Host, port: int32(e.Port), rack: b.Rack})
		}
	}
	return out
}

// hintFetchPartition sets a Fetch partition's hint (v12+).
func hintFetchPartition(rp *kmsg.FetchResponseTopicPartition, version int16, hint *cluster.LeaderHint, leaders *hintedLeaders) {
	if version < 12 || hint == nil || !hintedCode(rp.ErrorCode) {
		return
	}
	rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = hint.LeaderID, hint.LeaderEpoch
	leaders.add(hint.LeaderID)
}

// fetchResponseBrokers fills a Fetch response's endpoints (v16+).
func (n *Node) fetchResponseBrokers(resp *kmsg.FetchResponse, leaders hintedLeaders) {
	if resp.Version < 16 || len(leaders) == 0 {
		return
	}
	for _, b := range leaders.endpoints(n, n.routes.load().image) {
		rb := kmsg.NewFetchResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = b.id, b.host, b.port, b.rack
		resp.Brokers = append(resp.Brokers, rb)
	}
}

// hintProducePartition sets a Produce partition's hint (v10+).
func hintProducePartition(rp *kmsg.ProduceResponseTopicPartition, version int16, hint *cluster.LeaderHint, leaders *hintedLeaders) {
	if version < 10 || hint == nil || !hintedCode(rp.ErrorCode) {
		return
	}
	rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = hint.LeaderID, hint.LeaderEpoch
	leaders.add(hint.LeaderID)
}

// produceResponseBrokers fills a Produce response's endpoints (v10+).
func (n *Node) produceResponseBrokers(resp *kmsg.ProduceResponse, leaders hintedLeaders) {
	if resp.Version < 10 || len(leaders) == 0 {
		return
	}
	for _, b := range leaders.endpoints(n, n.routes.load().image) {
		rb := kmsg.NewProduceResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = b.id, b.host, b.port, b.rack
		resp.Brokers = append(resp.Brokers, rb)
	}
}
