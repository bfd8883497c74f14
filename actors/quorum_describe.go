package actors

import (
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster/quorum"
	"gregor/logstore/raftlog"
)

// describeQuorum answers DescribeQuorum from this node's view of the
// quorum. Only the leader knows every member's progress: any other node
// answers NOT_LEADER_OR_FOLLOWER, with the leader it knows.
func describeQuorum(req *kmsg.DescribeQuorumRequest, st quorum.Status, cfg Config) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewDescribeQuorumResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewDescribeQuorumResponseTopicPartition()
			p.Partition = rp.Partition
			p.LeaderID, p.LeaderEpoch, p.HighWatermark = st.LeaderID, int32(st.LeaderEpoch), st.HighWatermark
			switch {
			case rt.Topic != raftlog.DirName || rp.Partition != 0:
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case st.Role != quorum.RoleLeader:
				p.ErrorCode = kerr.NotLeaderForPartition.Code
			default:
				p.CurrentVoters = replicaStates(st.Voters)
				p.Observers = replicaStates(st.Observers)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if req.Version >= 2 {
		for _, v := range cfg.QuorumVoters {
			host, port, ok := splitAddress(v.Address)
			if !ok {
				continue
			}
			node := kmsg.NewDescribeQuorumResponseNode()
			node.NodeID = v.NodeID
			l := kmsg.NewDescribeQuorumResponseNodeListener()
			l.Name, l.Host, l.Port = cfg.ControllerListenerName, host, uint16(port)
			node.Listeners = append(node.Listeners, l)
			resp.Nodes = append(resp.Nodes, node)
		}
	}
	return resp
}

func replicaStates(members []quorum.ReplicaStatus) []kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	out := make([]kmsg.DescribeQuorumResponseTopicPartitionReplicaState, 0, len(members))
	for _, m := range members {
		r := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		r.ReplicaID, r.LogEndOffset = m.NodeID, m.LogEndOffset
		r.LastFetchTimestamp, r.LastCaughtUpTimestamp = m.LastFetchTimestamp, m.LastCaughtUpTimestamp
		out = append(out, r)
	}
	return out
}

// splitAddress splits host:port.
func splitAddress(addr string) (string, int32, bool) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, false
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, false
	}
	return host, int32(port), true
}
