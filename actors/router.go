package actors

import (
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/netio"
)

// router is the netio.Handler: it sends each decoded request to the actors
// that serve it (the controller for metadata changes, partition actors for
// data) and merges their answers. It never blocks: answers arrive through
// callbacks. Every request passes through Handle, the one place where
// authorization will be checked.
type router struct {
	node   *Node
	logger *zap.Logger
	// parked holds the fetches waiting for data (*fetchShell keys).
	parked sync.Map
	// closing is set when the node stops: fetches no longer wait.
	closing atomic.Bool
	// salts draws the fetch encoder's placeholder salts.
	salts *saltSource
	// sessions is the node's fetch session cache (KIP-227).
	sessions *fetchSessionCache
	// coordConns keeps which connections talk to this node's group
	// coordinators, for a graceful stop's drain (shutdown_drain.go).
	coordConns coordinatorConns
}

func newRouter(n *Node) *router {
	return &router{node: n, logger: n.logger.Named("router"), salts: newSaltSource(n.cfg.Entropy), sessions: newFetchSessionCache(n.cfg)}
}

// servedAPIVersions is the ApiVersions table: every key and version this
// broker serves with its real semantics. ApiVersions itself is answered by
// netio.
func servedAPIVersions() []netio.APIVersionRange {
	return []netio.APIVersionRange{
		{APIKey: 0, MinVersion: 3, MaxVersion: 13}, // Produce (magic 2 batches only)
		{APIKey: 1, MinVersion: 4, MaxVersion: 18}, // Fetch
		{APIKey: 2, MinVersion: 1, MaxVersion: 11}, // ListOffsets
		{APIKey: 3, MinVersion: 0, MaxVersion: 13}, // Metadata
		{APIKey: 19, MinVersion: 2, MaxVersion: 7}, // CreateTopics
		{APIKey: 20, MinVersion: 1, MaxVersion: 6}, // DeleteTopics
		{APIKey: 21, MinVersion: 0, MaxVersion: 2}, // DeleteRecords
		{APIKey: 23, MinVersion: 2, MaxVersion: 4}, // OffsetForLeaderEpoch
		{APIKey: 32, MinVersion: 1, MaxVersion: 4}, // DescribeConfigs
		{APIKey: 33, MinVersion: 0, MaxVersion: 2}, // AlterConfigs
		{APIKey: 37, MinVersion: 0, MaxVersion: 3}, // CreatePartitions
		{APIKey: 44, MinVersion: 0, MaxVersion: 1}, // IncrementalAlterConfigs
		{APIKey: 35, MinVersion: 1, MaxVersion: 5}, // DescribeLogDirs
		{APIKey: 60, MinVersion: 0, MaxVersion: 2}, // DescribeCluster
		{APIKey: 74, MinVersion: 0, MaxVersion: 1}, // ListConfigResources
		{APIKey: 43, MinVersion: 0, MaxVersion: 2}, // ElectLeaders
		{APIKey: 45, MinVersion: 0, MaxVersion: 1}, // AlterPartitionAssignments
		{APIKey: 46, MinVersion: 0, MaxVersion: 0}, // ListPartitionReassignments
		{APIKey: 57, MinVersion: 0, MaxVersion: 2}, // UpdateFeatures (feature levels, api_features.go)
		{APIKey: 55, MinVersion: 0, MaxVersion: 2}, // DescribeQuorum
		{APIKey: 64, MinVersion: 0, MaxVersion: 0}, // UnregisterBroker (kafka-cluster unregister)
		{APIKey: 75, MinVersion: 0, MaxVersion: 0}, // DescribeTopicPartitions
		{APIKey: 48, MinVersion: 0, MaxVersion: 1}, // DescribeClientQuotas (none set, api_quotas.go)
		{APIKey: 50, MinVersion: 0, MaxVersion: 0}, // DescribeUserScramCredentials (none)
		{APIKey: 29, MinVersion: 0, MaxVersion: 3}, // DescribeAcls (SECURITY_DISABLED, api_acls.go)
		{APIKey: 30, MinVersion: 0, MaxVersion: 3}, // CreateAcls (SECURITY_DISABLED)
		{APIKey: 31, MinVersion: 0, MaxVersion: 3}, // DeleteAcls (SECURITY_DISABLED)
		{APIKey: 8, MinVersion: 2, MaxVersion: 10}, // OffsetCommit
		{APIKey: 9, MinVersion: 1, MaxVersion: 10}, // OffsetFetch
		{APIKey: 10, MinVersion: 0, MaxVersion: 6}, // FindCoordinator
		{APIKey: 11, MinVersion: 2, MaxVersion: 9}, // JoinGroup
		{APIKey: 12, MinVersion: 0, MaxVersion: 4}, // Heartbeat
		{APIKey: 13, MinVersion: 0, MaxVersion: 5}, // LeaveGroup
		{APIKey: 14, MinVersion: 0, MaxVersion: 5}, // SyncGroup
		{APIKey: 15, MinVersion: 0, MaxVersion: 6}, // DescribeGroups
		{APIKey: 16, MinVersion: 0, MaxVersion: 5}, // ListGroups
		{APIKey: 42, MinVersion: 0, MaxVersion: 3}, // DeleteGroups
		{APIKey: 47, MinVersion: 0, MaxVersion: 0}, // OffsetDelete
		{APIKey: 68, MinVersion: 0, MaxVersion: 1}, // ConsumerGroupHeartbeat
		{APIKey: 69, MinVersion: 0, MaxVersion: 1}, // ConsumerGroupDescribe
		{APIKey: 22, MinVersion: 0, MaxVersion: 5}, // InitProducerId
		// WriteTxnMarkers v2 carries each marker's transaction version
		// (KIP-1228): the leader refuses a late transaction version 2 marker.
		{APIKey: 27, MinVersion: 0, MaxVersion: 2}, // WriteTxnMarkers
		{APIKey: 61, MinVersion: 0, MaxVersion: 0}, // DescribeProducers
		{APIKey: 24, MinVersion: 0, MaxVersion: 5}, // AddPartitionsToTxn
		{APIKey: 25, MinVersion: 0, MaxVersion: 4}, // AddOffsetsToTxn
		{APIKey: 26, MinVersion: 0, MaxVersion: 5}, // EndTxn
		{APIKey: 65, MinVersion: 0, MaxVersion: 0}, // DescribeTransactions
		{APIKey: 66, MinVersion: 0, MaxVersion: 2}, // ListTransactions
		// TxnOffsetCommit v5 is for KIP-890 part 2 clients: the offsets
		// partition's leader adds it to the transaction. v6 names topics
		// by id (KIP-1319).
		{APIKey: 28, MinVersion: 0, MaxVersion: 5}, // TxnOffsetCommit
	}
}

// apiName is the name of an API key for logs and metrics.
func apiName(key int16) string {
	if name := kmsg.NameForKey(key); name != "" {
		return name
	}
	return "Unknown"
}

// Handle implements netio.Handler.
func (r *router) Handle(req *netio.Request, respond func(kmsg.Response)) {
	switch body := req.Body.(type) {
	case *kmsg.ProduceRequest:
		r.produce(req, body, respond)
	case *kmsg.FetchRequest:
		r.fetch(req, body, respond)
	case *kmsg.ListOffsetsRequest:
		r.listOffsets(body, respond)
	case *kmsg.MetadataRequest:
		r.metadata(body, respond)
	case *kmsg.DeleteRecordsRequest:
		r.deleteRecords(body, respond)
	case *kmsg.OffsetForLeaderEpochRequest:
		r.offsetForLeaderEpoch(body, respond)
	case *kmsg.DescribeConfigsRequest:
		respond(r.describeConfigs(body))
	case *kmsg.DescribeClusterRequest:
		respond(r.describeCluster(body))
	case *kmsg.DescribeLogDirsRequest:
		r.describeLogDirs(body, respond)
	case *kmsg.ListConfigResourcesRequest:
		respond(r.listConfigResources(body))
	case *kmsg.DescribeTopicPartitionsRequest:
		respond(r.describeTopicPartitions(body))
	case *kmsg.DescribeClientQuotasRequest:
		respond(describeClientQuotas(body))
	case *kmsg.DescribeUserSCRAMCredentialsRequest:
		respond(describeUserSCRAMCredentials(body))
	case *kmsg.DescribeACLsRequest:
		respond(describeACLs(body))
	case *kmsg.CreateACLsRequest:
		respond(createACLs(body))
	case *kmsg.DeleteACLsRequest:
		respond(deleteACLs(body))
	case *kmsg.CreateTopicsRequest, *kmsg.DeleteTopicsRequest, *kmsg.CreatePartitionsRequest,
		*kmsg.AlterConfigsRequest, *kmsg.IncrementalAlterConfigsRequest, *kmsg.ElectLeadersRequest,
		*kmsg.AlterPartitionAssignmentsRequest, *kmsg.ListPartitionReassignmentsRequest, *kmsg.DescribeQuorumRequest,
		*kmsg.UpdateFeaturesRequest, *kmsg.UnregisterBrokerRequest:
		r.forwardToController(body, respond)
	default:
		if r.handleGroup(req, respond) || r.handleProducer(req, respond) || r.handleTxn(req, respond) {
			return
		}
		// netio only passes keys from servedAPIVersions; reaching this is a
		// bug in that table.
		r.logger.Error("request for an API the router does not serve", zap.String("api", apiName(req.Header.APIKey)))
		respond(nil)
	}
}

// answerUndelivered answers a request that reached no partition actor (it
// stopped: its topic was deleted or its log failed), so the request's
// connection never waits for it.
func answerUndelivered(msg interface{}) {
	notLeader := kerr.NotLeaderForPartition.Code
	switch m := msg.(type) {
	case *producePartition:
		m.releaseRecords()
		if m.answers() {
			m.answer(producePartitionResult{errorCode: notLeader, baseOffset: -1, logAppendTimeMs: -1, logStartOffset: -1})
		}
	case *fetchPartition:
		m.reply(fetchPartitionResult{errorCode: notLeader, highWatermark: -1, lastStableOffset: -1, logStartOffset: -1})
	case *watchPartition:
		m.notify()
	case *listOffsetsPartition:
		m.reply(listOffsetsResult{errorCode: notLeader, timestampMs: -1, offset: -1, leaderEpoch: -1})
	case *deleteRecordsPartition:
		m.reply(deleteRecordsResult{errorCode: notLeader, lowWatermark: -1})
	case *logDirPartition:
		m.reply(-1)
	case interface{ answerUndelivered() }:
		m.answerUndelivered()
	default:
		answerUndeliveredToController(msg)
	}
}
