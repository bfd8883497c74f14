package actors

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// requestTimeoutMs is the timeout a request carries, 0 for none.
func requestTimeoutMs(req kmsg.Request) int32 {
	switch r := req.(type) {
	case *kmsg.CreateTopicsRequest:
		return r.TimeoutMillis
	case *kmsg.DeleteTopicsRequest:
		return r.TimeoutMillis
	case *kmsg.CreatePartitionsRequest:
		return r.TimeoutMillis
	case *kmsg.ElectLeadersRequest:
		return r.TimeoutMillis
	case *kmsg.AlterPartitionAssignmentsRequest:
		return r.TimeoutMillis
	case *kmsg.ListPartitionReassignmentsRequest:
		return r.TimeoutMillis
	}
	return 0
}

// notControllerAnswer says the answer came from a node whose controller is
// not the active one (or, for DescribeQuorum, that is not the leader).
func notControllerAnswer(resp kmsg.Response) bool {
	nc := kerr.NotController.Code
	switch r := resp.(type) {
	case *kmsg.BrokerRegistrationResponse:
		return r.ErrorCode == nc
	case *kmsg.BrokerHeartbeatResponse:
		return r.ErrorCode == nc
	case *kmsg.UnregisterBrokerResponse:
		return r.ErrorCode == nc
	case *kmsg.AllocateProducerIDsResponse:
		return r.ErrorCode == nc
	case *kmsg.AlterPartitionResponse:
		return r.ErrorCode == nc
	case *kmsg.ElectLeadersResponse:
		return r.ErrorCode == nc
	case *kmsg.AlterPartitionAssignmentsResponse:
		return r.ErrorCode == nc
	case *kmsg.ListPartitionReassignmentsResponse:
		return r.ErrorCode == nc
	case *kmsg.CreateTopicsResponse:
		return len(r.Topics) > 0 && r.Topics[0].ErrorCode == nc
	case *kmsg.DeleteTopicsResponse:
		return len(r.Topics) > 0 && r.Topics[0].ErrorCode == nc
	case *kmsg.CreatePartitionsResponse:
		return len(r.Topics) > 0 && r.Topics[0].ErrorCode == nc
	case *kmsg.AlterConfigsResponse:
		return len(r.Resources) > 0 && r.Resources[0].ErrorCode == nc
	case *kmsg.IncrementalAlterConfigsResponse:
		return len(r.Resources) > 0 && r.Resources[0].ErrorCode == nc
	case *kmsg.DescribeQuorumResponse:
		return r.ErrorCode == nc || len(r.Topics) > 0 && len(r.Topics[0].Partitions) > 0 &&
			r.Topics[0].Partitions[0].ErrorCode == kerr.NotLeaderForPartition.Code
	}
	return false
}
