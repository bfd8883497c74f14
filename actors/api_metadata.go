package actors

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// metadata answers Metadata from the published routes, first asking the
// controller to auto-create missing topics when the request and the broker
// allow it.
func (r *router) metadata(req *kmsg.MetadataRequest, respond func(kmsg.Response)) {
	// Before v4 the request has no AllowAutoTopicCreation: brokers create.
	allow := req.AllowAutoTopicCreation || req.Version < 4
	if r.node.cfg.AutoCreateTopics && allow && req.Topics != nil {
		rt := r.node.routes.load()
		var missing []string
		for _, t := range req.Topics {
			if t.Topic != nil && *t.Topic != "" {
				if _, ok := rt.image.Topic(*t.Topic); !ok {
					missing = append(missing, *t.Topic)
				}
			}
		}
		if len(missing) > 0 {
			r.node.system.Root.Send(r.node.controller, &autoCreateTopics{topics: missing, done: func() {
				respond(r.metadataResponse(req))
			}})
			return
		}
	}
	respond(r.metadataResponse(req))
}

func (r *router) metadataResponse(req *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, port := r.node.advertised()
	b := kmsg.NewMetadataResponseBroker()
	b.NodeID, b.Host, b.Port = r.node.cfg.NodeID, host, port
	resp.Brokers = []kmsg.MetadataResponseBroker{b}
	resp.ClusterID = kmsg.StringPtr(r.node.clusterID)
	resp.ControllerID = r.node.cfg.NodeID
	rt := r.node.routes.load()
	// Null asks for every topic; so does an empty list in v0, which has no
	// null.
	if req.Topics == nil || req.Version == 0 && len(req.Topics) == 0 {
		for t := range rt.image.Topics() {
			resp.Topics = append(resp.Topics, r.metadataTopic(rt, t))
		}
		return resp
	}
	for _, want := range req.Topics {
		var t *cluster.TopicImage
		var ok bool
		if want.Topic != nil && *want.Topic != "" {
			t, ok = rt.image.Topic(*want.Topic)
		} else {
			t, ok = rt.image.TopicByID(want.TopicID)
		}
		if ok {
			resp.Topics = append(resp.Topics, r.metadataTopic(rt, t))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID = want.Topic, want.TopicID
		switch {
		case want.Topic == nil || *want.Topic == "":
			mt.ErrorCode = kerr.UnknownTopicID.Code
		case cluster.ValidateTopicName(*want.Topic) != nil:
			mt.ErrorCode = kerr.InvalidTopicException.Code
		default:
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

func (r *router) metadataTopic(rt *routes, t *cluster.TopicImage) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic, mt.TopicID = kmsg.StringPtr(t.Name), t.ID
	mt.IsInternal = len(t.Name) > 1 && t.Name[:2] == "__"
	for p := int32(0); p < t.PartitionCount(); p++ {
		l := r.leadership(rt, t.Name, p)
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.ErrorCode, mp.Replicas = p, l.errorCode, l.replicas
		mp.Leader, mp.LeaderEpoch, mp.ISR, mp.OfflineReplicas = l.leader, l.leaderEpoch, l.isr, l.offline
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// partitionLeadership is what the node reports of one partition's replicas
// in Metadata and DescribeTopicPartitions.
type partitionLeadership struct {
	errorCode              int16
	leader, leaderEpoch    int32
	replicas, isr, offline []int32
}

// leadership reports a partition as the image records it; a partition led
// here whose actor stopped on a corrupt or failing log is offline.
func (r *router) leadership(rt *routes, topic string, p int32) partitionLeadership {
	t, ok := rt.image.Topic(topic)
	if !ok || p < 0 || p >= t.PartitionCount() {
		return partitionLeadership{errorCode: kerr.UnknownTopicOrPartition.Code, leader: -1, leaderEpoch: -1,
			replicas: []int32{}, isr: []int32{}, offline: []int32{}}
	}
	part := t.Partitions[p]
	node := r.node.cfg.NodeID
	if part.Leader == node && rt.partition(topic, p) == nil {
		return partitionLeadership{errorCode: kerr.LeaderNotAvailable.Code, leader: -1, leaderEpoch: -1,
			replicas: part.Replicas, isr: []int32{}, offline: []int32{node}}
	}
	return partitionLeadership{leader: part.Leader, leaderEpoch: part.LeaderEpoch,
		replicas: part.Replicas, isr: part.ISR, offline: []int32{}}
}

func (r *router) describeCluster(req *kmsg.DescribeClusterRequest) *kmsg.DescribeClusterResponse {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	host, port := r.node.advertised()
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = r.node.cfg.NodeID, host, port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{b}
	resp.ClusterID = r.node.clusterID
	resp.ControllerID = r.node.cfg.NodeID
	if req.EndpointType == 2 {
		// Controllers endpoint type (KIP-919): this node is its own
		// controller, reached on the same listener.
		resp.EndpointType = 2
	} else if req.EndpointType > 2 || req.EndpointType < 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.Brokers = nil
	}
	return resp
}
