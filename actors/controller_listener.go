package actors

import (
	"fmt"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster/quorum"
	"gregor/netio"
)

// controllerAPIVersions is what the CONTROLLER listener serves besides the
// raft API: what brokers send the controller, and the admin requests they
// forward to it.
func controllerAPIVersions() []netio.APIVersionRange {
	return []netio.APIVersionRange{
		{APIKey: 19, MinVersion: 2, MaxVersion: 7}, // CreateTopics
		{APIKey: 20, MinVersion: 1, MaxVersion: 6}, // DeleteTopics
		{APIKey: 33, MinVersion: 0, MaxVersion: 2}, // AlterConfigs
		{APIKey: 37, MinVersion: 0, MaxVersion: 3}, // CreatePartitions
		{APIKey: 43, MinVersion: 0, MaxVersion: 2}, // ElectLeaders
		{APIKey: 44, MinVersion: 0, MaxVersion: 1}, // IncrementalAlterConfigs
		{APIKey: 45, MinVersion: 0, MaxVersion: 1}, // AlterPartitionAssignments
		{APIKey: 46, MinVersion: 0, MaxVersion: 0}, // ListPartitionReassignments
		{APIKey: 57, MinVersion: 0, MaxVersion: 2}, // UpdateFeatures
		{APIKey: 55, MinVersion: 0, MaxVersion: 2}, // DescribeQuorum
		{APIKey: 56, MinVersion: 0, MaxVersion: 3}, // AlterPartition
		{APIKey: 60, MinVersion: 0, MaxVersion: 2}, // DescribeCluster
		{APIKey: 62, MinVersion: 0, MaxVersion: 4}, // BrokerRegistration
		{APIKey: 63, MinVersion: 0, MaxVersion: 2}, // BrokerHeartbeat
		{APIKey: 64, MinVersion: 0, MaxVersion: 0}, // UnregisterBroker
		{APIKey: 67, MinVersion: 0, MaxVersion: 0}, // AllocateProducerIds
	}
}

// startListeners binds the client listener (served once the broker is
// unfenced) and starts the CONTROLLER listener.
func (n *Node) startListeners() error {
	cfg := n.cfg
	if cfg.Roles.Broker {
		l, err := net.Listen("tcp", cfg.ListenAddress)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.ListenAddress, err)
		}
		n.brokerListener = l
		n.router = newRouter(n)
		n.server, err = netio.NewServer(netio.Config{
			ListenerName:         cfg.ListenerName,
			RequestMaxBytes:      cfg.RequestMaxBytes,
			MaxConnections:       cfg.MaxConnections,
			SendBufferBytes:      cfg.SocketSendBufferBytes,
			ReceiveBufferBytes:   cfg.SocketReceiveBufferBytes,
			ConnectionsMaxIdleMs: cfg.ConnectionsMaxIdleMs,
			APIVersions:          servedAPIVersions(),
			// As Kafka 4 (KAFKA-18659): else librdkafka produces without
			// gzip, snappy or lz4. v0-v2 requests are refused all the same.
			AdvertiseFromZero: []int16{int16(kmsg.Produce)},
			Observer:          n.metrics,
			Features:          n.apiFeatures,
			// Produce records are held (Request.Retain) until their
			// partition appended them; every other request is done with its
			// frame when it is answered.
			PoolRequestBuffers:    true,
			PoisonReleasedBuffers: cfg.poisonReleasedBuffers,
		}, n.router, n.logger.Named("netio"))
		if err != nil {
			return err
		}
	}
	if cfg.ControllerListenAddress == "" {
		return nil
	}
	srv, err := netio.NewServer(netio.Config{
		Address:         cfg.ControllerListenAddress,
		ListenerName:    cfg.ControllerListenerName,
		RequestMaxBytes: cfg.RequestMaxBytes,
		APIVersions:     controllerAPIVersions(),
		PrivateAPIs:     []netio.PrivateAPI{raftAPI},
		Features:        controllerListenerFeatures,
		Observer:        controllerListenerObserver{n.metrics},
	}, &controllerHandler{node: n}, n.logger.Named("controller_listener"))
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return fmt.Errorf("listen on %s (%s): %w", cfg.ControllerListenAddress, cfg.ControllerListenerName, err)
	}
	n.controllerServer = srv
	return nil
}

// controllerHandler serves the CONTROLLER listener: raft frames go to the
// quorum actor, what a broker asks of the controller to this node's
// controller (answering NOT_CONTROLLER while it is not active; no request
// here is forwarded again).
type controllerHandler struct{ node *Node }

// Handle implements netio.Handler.
func (h *controllerHandler) Handle(req *netio.Request, respond func(kmsg.Response)) {
	n := h.node
	n.seenControllerConn(peerNode(req), req.Conn)
	switch body := req.Body.(type) {
	case *raftRequest:
		n.system.Root.Send(n.quorum, &raftInbound{req: body, respond: func(r *raftResponse) { respond(r) }})
	case *kmsg.DescribeClusterRequest:
		respond(n.describeCluster(body))
	case *kmsg.ApiVersionsRequest:
		// Answered by netio.
	default:
		if !servedByController(body) {
			n.logger.Error("request for an API the controller listener does not serve", zap.String("api", apiName(req.Header.APIKey)))
			respond(nil)
			return
		}
		n.dispatchToController(body, false, respond)
	}
}

// servedByController lists the requests the controller (or, for
// DescribeQuorum, the quorum actor) answers.
func servedByController(req kmsg.Request) bool {
	switch req.(type) {
	case *kmsg.CreateTopicsRequest, *kmsg.DeleteTopicsRequest, *kmsg.CreatePartitionsRequest,
		*kmsg.AlterConfigsRequest, *kmsg.IncrementalAlterConfigsRequest,
		*kmsg.BrokerRegistrationRequest, *kmsg.BrokerHeartbeatRequest, *kmsg.UnregisterBrokerRequest,
		*kmsg.AlterPartitionRequest, *kmsg.ElectLeadersRequest,
		*kmsg.AlterPartitionAssignmentsRequest, *kmsg.ListPartitionReassignmentsRequest,
		*kmsg.DescribeQuorumRequest, *kmsg.AllocateProducerIDsRequest, *kmsg.UpdateFeaturesRequest:
		return true
	}
	return false
}

// answerUndeliveredToController answers a request for an actor of the
// metadata path that stopped (the node is stopping), so that no connection
// waits for it; it reports whether msg was one.
func answerUndeliveredToController(msg interface{}) bool {
	switch m := msg.(type) {
	case *raftInbound:
		m.respond(&raftResponse{ErrorCode: kerr.BrokerNotAvailable.Code})
	case *controllerRequest:
		m.respond(notControllerResponse(m.body, "the controller stopped"))
	case *describeQuorumLocal:
		m.respond(describeQuorum(m.req, quorum.Status{LeaderID: -1, Role: quorum.RoleObserver}, Config{}))
	case *beginControlledShutdown:
		m.done()
	case *transferLeadership:
		m.done()
	default:
		return false
	}
	return true
}
