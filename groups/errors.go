package groups

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrorResponse answers a group request with code in every part: what a
// coordinator that is loading answers, and what a request that reaches no
// coordinator gets (NOT_COORDINATOR). It panics for other requests.
func ErrorResponse(req kmsg.Request, code int16) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		return joinResponse(r.Version, r.MemberID, code)
	case *kmsg.SyncGroupRequest:
		return syncResponse(r.Version, code)
	case *kmsg.HeartbeatRequest:
		resp := kmsg.NewPtrHeartbeatResponse()
		resp.Version, resp.ErrorCode = r.Version, code
		return resp
	case *kmsg.LeaveGroupRequest:
		resp := kmsg.NewPtrLeaveGroupResponse()
		resp.Version, resp.ErrorCode = r.Version, code
		return resp
	case *kmsg.OffsetCommitRequest:
		return offsetCommitError(r, code)
	case *kmsg.OffsetFetchRequest:
		return offsetFetchError(r, code)
	case *kmsg.TxnOffsetCommitRequest:
		oc := kmsg.NewPtrOffsetCommitRequest()
		for _, t := range r.Topics {
			ot := kmsg.NewOffsetCommitRequestTopic()
			for _, p := range t.Partitions {
				ot.Partitions = append(ot.Partitions, kmsg.OffsetCommitRequestTopicPartition{Partition: p.Partition})
			}
			oc.Topics = append(oc.Topics, ot)
		}
		ans := newCommitAnswer(oc)
		ans.setAll(code)
		return txnCommitResponse(r, ans)
	case *kmsg.OffsetDeleteRequest:
		resp := kmsg.NewPtrOffsetDeleteResponse()
		resp.Version, resp.ErrorCode = r.Version, code
		return resp
	case *kmsg.ListGroupsRequest:
		resp := kmsg.NewPtrListGroupsResponse()
		resp.Version, resp.ErrorCode = r.Version, code
		return resp
	case *kmsg.DescribeGroupsRequest:
		resp := kmsg.NewPtrDescribeGroupsResponse()
		resp.Version = r.Version
		for _, id := range r.Groups {
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.ErrorCode = id, code
			resp.Groups = append(resp.Groups, dg)
		}
		return resp
	case *kmsg.DeleteGroupsRequest:
		resp := kmsg.NewPtrDeleteGroupsResponse()
		resp.Version = r.Version
		for _, id := range r.Groups {
			dg := kmsg.NewDeleteGroupsResponseGroup()
			dg.Group, dg.ErrorCode = id, code
			resp.Groups = append(resp.Groups, dg)
		}
		return resp
	case *kmsg.ConsumerGroupHeartbeatRequest:
		resp := kmsg.NewPtrConsumerGroupHeartbeatResponse()
		resp.Version, resp.ErrorCode = r.Version, code
		return resp
	case *kmsg.ConsumerGroupDescribeRequest:
		resp := kmsg.NewPtrConsumerGroupDescribeResponse()
		resp.Version = r.Version
		for _, id := range r.Groups {
			dg := kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.Group, dg.ErrorCode = id, code
			resp.Groups = append(resp.Groups, dg)
		}
		return resp
	}
	panic(fmt.Sprintf("groups: no error response for %s", kmsg.NameForKey(req.Key())))
}

func offsetCommitError(r *kmsg.OffsetCommitRequest, code int16) *kmsg.OffsetCommitResponse {
	resp := kmsg.NewPtrOffsetCommitResponse()
	resp.Version = r.Version
	for _, t := range r.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// offsetFetchError sets code at the top (v2 to v7), per group (v8+), or per
// partition (v0 and v1, which have nowhere else to put it).
func offsetFetchError(r *kmsg.OffsetFetchRequest, code int16) *kmsg.OffsetFetchResponse {
	resp := kmsg.NewPtrOffsetFetchResponse()
	resp.Version = r.Version
	if r.Version >= 8 {
		for _, g := range r.Groups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, code
			resp.Groups = append(resp.Groups, rg)
		}
		return resp
	}
	resp.ErrorCode = code
	if r.Version < 2 {
		for _, t := range r.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.ErrorCode = p, -1, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	return resp
}
