package actors

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// autoCreateTimeoutMs bounds the CreateTopics a Metadata request causes.
const autoCreateTimeoutMs = 10_000

// metadata answers Metadata from the published routes, first asking the
// active controller to create missing topics (a CreateTopics with the
// broker defaults, as Kafka's brokers do) when the request and the broker
// allow it; the answer waits until this node's routes include the topics
// created (cluster.AutoCreated says which, and what a missing one reports).
func (r *router) metadata(req *kmsg.MetadataRequest, respond func(kmsg.Response)) {
	// Before v4 the request has no AllowAutoTopicCreation: brokers create.
	allow := req.AllowAutoTopicCreation || req.Version < 4
	if !r.node.cfg.AutoCreateTopics || !allow || req.Topics == nil {
		respond(r.metadataResponse(req, cluster.AutoCreated{}))
		return
	}
	rt := r.node.routes.load()
	create := kmsg.NewPtrCreateTopicsRequest()
	create.TimeoutMillis = autoCreateTimeoutMs
	for _, t := range req.Topics {
		if t.Topic == nil || *t.Topic == "" || cluster.ValidateTopicName(*t.Topic) != nil {
			continue
		}
		if _, ok := rt.image.Topic(*t.Topic); ok {
			continue
		}
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = *t.Topic, -1, -1
		create.Topics = append(create.Topics, ct)
	}
	if len(create.Topics) == 0 {
		respond(r.metadataResponse(req, cluster.AutoCreated{}))
		return
	}
	r.node.sendToController(create, func(resp kmsg.Response, err error) {
		created, ok := resp.(*kmsg.CreateTopicsResponse)
		if err != nil || !ok {
			respond(r.metadataResponse(req, cluster.AutoCreated{}))
			return
		}
		auto := cluster.SortAutoCreated(created)
		r.node.routes.waitFor(auto.Holds, imageWaitTimeout, func() { respond(r.metadataResponse(req, auto)) })
	})
}

// metadataResponse answers req from the published routes; auto says what
// a named topic they lack reports.
func (r *router) metadataResponse(req *kmsg.MetadataRequest, auto cluster.AutoCreated) *kmsg.MetadataResponse {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	rt := r.node.routes.load()
	for _, b := range r.node.liveBrokers(rt.image) {
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port, mb.Rack = b.id, b.host, b.port, b.rack
		resp.Brokers = append(resp.Brokers, mb)
	}
	if id := r.node.ClusterID(); id != "" {
		resp.ClusterID = kmsg.StringPtr(id)
	}
	resp.ControllerID = r.node.controllerIDForClients(rt.image)
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
			mt.ErrorCode = auto.MissingCode(*want.Topic)
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

func (r *router) metadataTopic(rt *routes, t *cluster.TopicImage) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic, mt.TopicID = kmsg.StringPtr(t.Name), t.ID
	mt.IsInternal = cluster.IsInternalTopic(t.Name)
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

// leadership reports a partition as the image records it. Replicas on
// brokers that are not registered and unfenced are offline, and so are
// those their broker reports offline (a corrupt or failing log:
// MetadataImage.ReplicaOffline); so is a partition led here whose actor
// stopped. A partition without a leader is LEADER_NOT_AVAILABLE.
func (r *router) leadership(rt *routes, topic string, p int32) partitionLeadership {
	t, ok := rt.image.Topic(topic)
	if !ok || p < 0 || p >= t.PartitionCount() {
		return partitionLeadership{errorCode: kerr.UnknownTopicOrPartition.Code, leader: -1, leaderEpoch: -1,
			replicas: []int32{}, isr: []int32{}, offline: []int32{}}
	}
	part := t.Partitions[p]
	node := r.node.cfg.NodeID
	offline := []int32{}
	for _, b := range part.Replicas {
		if reg, ok := rt.image.Broker(b); rt.image.BrokerCount() > 0 && (!ok || reg.Fenced || rt.image.ReplicaOffline(b, t.ID, p)) {
			offline = append(offline, b)
		}
	}
	if part.Leader == node && rt.partition(topic, p) == nil {
		if !slices.Contains(offline, node) {
			offline = append(offline, node)
		}
		return partitionLeadership{errorCode: kerr.LeaderNotAvailable.Code, leader: -1, leaderEpoch: -1,
			replicas: part.Replicas, isr: []int32{}, offline: offline}
	}
	l := partitionLeadership{leader: part.Leader, leaderEpoch: part.LeaderEpoch,
		replicas: part.Replicas, isr: part.ISR, offline: offline}
	if part.Leader < 0 {
		l.errorCode = kerr.LeaderNotAvailable.Code
	}
	return l
}

// liveBroker is a registered, unfenced broker as clients are told of it:
// the endpoint of the client listener.
type liveBroker struct {
	id   int32
	host string
	port int32
	rack *string
}

// liveBrokers lists the registered, unfenced brokers with an endpoint of
// this node's client listener, in id order; before any broker registered
// (an image from a single node of before the quorum), this node.
func (n *Node) liveBrokers(img *cluster.MetadataImage) []liveBroker {
	var out []liveBroker
	for b := range img.Brokers() {
		e, ok := b.Endpoint(n.cfg.ListenerName)
		if b.Fenced || !ok {
			continue
		}
		out = append(out, liveBroker{id: b.ID, host: e.Host, port: int32(e.Port), rack: b.Rack})
	}
	if img.BrokerCount() == 0 && n.Addr() != nil {
		host, port := n.advertised()
		out = append(out, liveBroker{id: n.cfg.NodeID, host: host, port: port})
	}
	return out
}

// controllerIDForClients is the controller id clients are told: the active
// controller (the quorum's leader) when it is a live broker clients can
// reach; when it is a controller-only node, a live broker (this one if it
// can), which forwards what it gets to the controller, as Kafka's brokers
// answer; -1 while no leader is known.
func (n *Node) controllerIDForClients(img *cluster.MetadataImage) int32 {
	leader := n.quorumLeader.Load()
	if leader < 0 && len(n.cfg.QuorumVoters) > 0 {
		return -1
	}
	brokers := n.liveBrokers(img)
	for _, b := range brokers {
		if b.id == leader {
			return leader
		}
	}
	for _, b := range brokers {
		if b.id == n.cfg.NodeID {
			return b.id
		}
	}
	if len(brokers) > 0 {
		return brokers[0].id
	}
	return -1
}

func (r *router) describeCluster(req *kmsg.DescribeClusterRequest) *kmsg.DescribeClusterResponse {
	return r.node.describeCluster(req)
}

// describeCluster answers DescribeCluster: the live brokers or, for the controllers endpoint type (KIP-919), the voters
// with their CONTROLLER listeners (a single node with none is reached on
// its client listener).
func (n *Node) describeCluster(req *kmsg.DescribeClusterRequest) *kmsg.DescribeClusterResponse {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	img := n.routes.load().image
	resp.ClusterID = n.ClusterID()
	switch req.EndpointType {
	case 0, 1:
		for _, b := range n.liveBrokers(img) {
			db := kmsg.NewDescribeClusterResponseBroker()
			db.NodeID, db.Host, db.Port, db.Rack = b.id, b.host, b.port, b.rack
			resp.Brokers = append(resp.Brokers, db)
		}
		resp.ControllerID = n.controllerIDForClients(img)
	case 2:
		resp.EndpointType = 2
		resp.ControllerID = n.quorumLeader.Load()
		for _, v := range n.cfg.QuorumVoters {
			host, port, ok := splitAddress(v.Address)
			if !ok {
				continue
			}
			db := kmsg.NewDescribeClusterResponseBroker()
			db.NodeID, db.Host, db.Port = v.NodeID, host, port
			resp.Brokers = append(resp.Brokers, db)
		}
		if len(n.cfg.QuorumVoters) == 0 {
			host, port := n.advertised()
			db := kmsg.NewDescribeClusterResponseBroker()
			db.NodeID, db.Host, db.Port = n.cfg.NodeID, host, port
			resp.Brokers = append(resp.Brokers, db)
			resp.ControllerID = n.cfg.NodeID
		}
	default:
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
	}
	return resp
}
