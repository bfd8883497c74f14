package actors

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// gregor has no authorizer: every client may do everything. A Kafka broker
// run without one (no authorizer.class.name) still serves the three ACL
// APIs and answers each SECURITY_DISABLED, so that Kafka's kafka-acls, the
// admin clients' describe/create/delete ACL calls and clients that send a
// request without asking ApiVersions first (kafka-go) get that clear
// answer, not "the broker does not support this API" or a closed
// connection. gregor answers them the same way.

// noAuthorizerMessage says why an ACL request is refused.
const noAuthorizerMessage = "no authorizer is configured on this broker: gregor has no ACLs (every client may do everything)"

// describeACLs answers DescribeAcls: SECURITY_DISABLED.
func describeACLs(req *kmsg.DescribeACLsRequest) *kmsg.DescribeACLsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	resp.ErrorCode = kerr.SecurityDisabled.Code
	resp.ErrorMessage = kmsg.StringPtr(noAuthorizerMessage)
	return resp
}

// createACLs answers CreateAcls: each creation SECURITY_DISABLED.
func createACLs(req *kmsg.CreateACLsRequest) *kmsg.CreateACLsResponse {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i := range resp.Results {
		resp.Results[i].ErrorCode = kerr.SecurityDisabled.Code
		resp.Results[i].ErrorMessage = kmsg.StringPtr(noAuthorizerMessage)
	}
	return resp
}

// deleteACLs answers DeleteAcls: each filter SECURITY_DISABLED, matching
// nothing.
func deleteACLs(req *kmsg.DeleteACLsRequest) *kmsg.DeleteACLsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range resp.Results {
		resp.Results[i].ErrorCode = kerr.SecurityDisabled.Code
		resp.Results[i].ErrorMessage = kmsg.StringPtr(noAuthorizerMessage)
		resp.Results[i].MatchingACLs = []kmsg.DeleteACLsResponseResultMatchingACL{}
	}
	return resp
}
