package actors

import (
	"bytes"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/groups"
	"gregor/netio"
)

// The group APIs: FindCoordinator is answered from the metadata image
// (api_find_coordinator.go); every other group request goes to the
// coordinator of its group (batched
// requests are split by coordinator and their answers merged).

// groupBatchTimeout bounds how long a batched group request waits for the
// coordinators; their parts are quick (no rebalance waits in them).
const groupBatchTimeout = 30 * time.Second

// clientOf is who sent a request, as a coordinator records it: the client
// id, and the peer's address as Kafka prints it ("/127.0.0.1").
func clientOf(req *netio.Request) groups.Client {
	c := groups.Client{ID: req.Header.ClientID}
	if req.Conn != nil && req.Conn.RemoteAddr != nil {
		host := req.Conn.RemoteAddr.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		c.Host = "/" + host
	}
	return c
}

// keepGroupBytes copies the byte fields a coordinator keeps (protocol
// metadata, assignments) out of the request's pooled frame.
func keepGroupBytes(body kmsg.Request) {
	switch b := body.(type) {
	case *kmsg.JoinGroupRequest:
		for i := range b.Protocols {
			b.Protocols[i].Metadata = bytes.Clone(b.Protocols[i].Metadata)
		}
	case *kmsg.SyncGroupRequest:
		for i := range b.GroupAssignment {
			b.GroupAssignment[i].MemberAssignment = bytes.Clone(b.GroupAssignment[i].MemberAssignment)
		}
	}
}

// toCoordinator sends a request about one group to its coordinator, or
// answers NOT_COORDINATOR when this node coordinates no such group.
func (r *router) toCoordinator(req *netio.Request, group string, respond func(kmsg.Response)) {
	pid := r.node.groups.coordinatorFor(r.node.routes.load(), group)
	member := membershipRequest(req.Body)
	var k memberKey
	if member {
		k = memberKeyOf(req.Body)
	}
	commit, isCommit := req.Body.(*kmsg.OffsetCommitRequest)
	if pid == nil {
		respond(groups.ErrorResponse(req.Body, kerr.NotCoordinator.Code))
		if member {
			r.coordConns.told(k)
		} else if isCommit {
			r.coordConns.commitTold(memberKey{commit.Group, commit.MemberID})
		}
		return
	}
	switch {
	case member:
		now := r.node.cfg.Clock.Now().MonoMs
		r.coordConns.sent(req.Conn, k, req.Header.ClientID, now)
		if heartbeatRequest(req.Body) {
			r.coordConns.heartbeated(k, now)
		}
		respond = r.toldOnMove(k, respond)
	case isCommit:
		respond = r.commitToldOnMove(memberKey{commit.Group, commit.MemberID}, respond)
	default:
		if leave, ok := req.Body.(*kmsg.LeaveGroupRequest); ok {
			r.coordConns.left(leave.Group, leavingMembers(leave))
		}
	}
	keepGroupBytes(req.Body)
	r.node.system.Root.Send(pid, &groupRequest{body: req.Body, client: clientOf(req), respond: respond, inline: true})
}

// handleGroup routes a group request; it reports false for other requests.
func (r *router) handleGroup(req *netio.Request, respond func(kmsg.Response)) bool {
	switch body := req.Body.(type) {
	case *kmsg.FindCoordinatorRequest:
		r.findCoordinator(body, respond)
	case *kmsg.JoinGroupRequest:
		r.toCoordinator(req, body.Group, respond)
	case *kmsg.SyncGroupRequest:
		r.toCoordinator(req, body.Group, respond)
	case *kmsg.HeartbeatRequest:
		r.toCoordinator(req, body.Group, respond)
	case *kmsg.LeaveGroupRequest:
		r.toCoordinator(req, body.Group, respond)
	case *kmsg.OffsetCommitRequest:
		r.toCoordinator(req, body.Group, respond)
	case *kmsg.OffsetDeleteRequest:
		r.toCoordinator(req, body.Group, respond)
	case *kmsg.TxnOffsetCommitRequest:
		r.toCoordinator(req, body.Group, respond)
	case *kmsg.ConsumerGroupHeartbeatRequest:
		r.toCoordinator(req, body.Group, respond)
	case *kmsg.OffsetFetchRequest:
		if body.Version < 8 {
			r.toCoordinator(req, body.Group, respond)
		} else {
			r.offsetFetchGroups(req, body, respond)
		}
	case *kmsg.DescribeGroupsRequest:
		r.describeGroups(req, body, respond)
	case *kmsg.DeleteGroupsRequest:
		r.deleteGroups(req, body, respond)
	case *kmsg.ConsumerGroupDescribeRequest:
		r.consumerGroupDescribe(req, body, respond)
	case *kmsg.ListGroupsRequest:
		r.listGroups(req, body, respond)
	default:
		return false
	}
	return true
}

// groupSplit is the part of a batched request one coordinator answers: its
// group ids and their indexes in the request.
type groupSplit struct {
	pid  *actor.PID
	keys []string
	idx  []int
}

// splitGroups sorts a batched request's group ids by coordinator; ids no
// coordinator here serves are listed in missing.
func (r *router) splitGroups(keys []string) (parts []*groupSplit, missing []int) {
	rt := r.node.routes.load()
	byPID := map[string]*groupSplit{}
	for i, key := range keys {
		pid := r.node.groups.coordinatorFor(rt, key)
		if pid == nil {
			missing = append(missing, i)
			continue
		}
		s, ok := byPID[pid.Id]
		if !ok {
			s = &groupSplit{pid: pid}
			byPID[pid.Id] = s
			parts = append(parts, s)
		}
		s.keys, s.idx = append(s.keys, key), append(s.idx, i)
	}
	return parts, missing
}

// askCoordinators sends each part's request (built by build) to its
// coordinator and calls fill with each answer, then done.
func (r *router) askCoordinators(req *netio.Request, parts []*groupSplit, build func(s *groupSplit) kmsg.Request,
	fill func(s *groupSplit, resp kmsg.Response), done func()) {
	fo := &fanOut[kmsg.Response]{}
	client := clientOf(req)
	for _, s := range parts {
		fo.ask(s.pid, func(resp kmsg.Response) { fill(s, resp) }, func(reply func(kmsg.Response)) any {
			return &groupRequest{body: build(s), client: client, respond: reply}
		})
	}
	fo.run(r.node.system.Root, groupBatchTimeout, done)
}

// askByGroupList splits a request that lists group ids (ids) over their
// coordinators: sub builds the request for a coordinator's ids, answers
// takes each answer's per-group results, which go to out at their ids'
// indexes; done runs once every coordinator answered or timed out.
func askByGroupList[G any](r *router, req *netio.Request, ids []string, sub func(keys []string) kmsg.Request,
	answers func(kmsg.Response) []G, out []G, done func()) {
	parts, _ := r.splitGroups(ids)
	r.askCoordinators(req, parts, func(s *groupSplit) kmsg.Request { return sub(s.keys) },
		func(s *groupSplit, answer kmsg.Response) {
			for j, g := range answers(answer) {
				out[s.idx[j]] = g
			}
		}, done)
}

func (r *router) describeGroups(req *netio.Request, body *kmsg.DescribeGroupsRequest, respond func(kmsg.Response)) {
	resp := groups.ErrorResponse(body, kerr.NotCoordinator.Code).(*kmsg.DescribeGroupsResponse)
	askByGroupList(r, req, body.Groups, func(keys []string) kmsg.Request { sub := *body; sub.Groups = keys; return &sub },
		func(a kmsg.Response) []kmsg.DescribeGroupsResponseGroup {
			return a.(*kmsg.DescribeGroupsResponse).Groups
		},
		resp.Groups, func() { respond(resp) })
}

func (r *router) deleteGroups(req *netio.Request, body *kmsg.DeleteGroupsRequest, respond func(kmsg.Response)) {
	resp := groups.ErrorResponse(body, kerr.NotCoordinator.Code).(*kmsg.DeleteGroupsResponse)
	askByGroupList(r, req, body.Groups, func(keys []string) kmsg.Request { sub := *body; sub.Groups = keys; return &sub },
		func(a kmsg.Response) []kmsg.DeleteGroupsResponseGroup { return a.(*kmsg.DeleteGroupsResponse).Groups },
		resp.Groups, func() { respond(resp) })
}

func (r *router) consumerGroupDescribe(req *netio.Request, body *kmsg.ConsumerGroupDescribeRequest, respond func(kmsg.Response)) {
	resp := groups.ErrorResponse(body, kerr.NotCoordinator.Code).(*kmsg.ConsumerGroupDescribeResponse)
	askByGroupList(r, req, body.Groups, func(keys []string) kmsg.Request { sub := *body; sub.Groups = keys; return &sub },
		func(a kmsg.Response) []kmsg.ConsumerGroupDescribeResponseGroup {
			return a.(*kmsg.ConsumerGroupDescribeResponse).Groups
		},
		resp.Groups, func() { respond(resp) })
}

// offsetFetchGroups splits an OffsetFetch of several groups (v8+).
func (r *router) offsetFetchGroups(req *netio.Request, body *kmsg.OffsetFetchRequest, respond func(kmsg.Response)) {
	resp := groups.ErrorResponse(body, kerr.NotCoordinator.Code).(*kmsg.OffsetFetchResponse)
	keys := make([]string, len(body.Groups))
	for i, g := range body.Groups {
		keys[i] = g.Group
	}
	parts, _ := r.splitGroups(keys)
	r.askCoordinators(req, parts, func(s *groupSplit) kmsg.Request {
		sub := *body
		sub.Groups = make([]kmsg.OffsetFetchRequestGroup, 0, len(s.idx))
		for _, i := range s.idx {
			sub.Groups = append(sub.Groups, body.Groups[i])
		}
		return &sub
	}, func(s *groupSplit, answer kmsg.Response) {
		for j, g := range answer.(*kmsg.OffsetFetchResponse).Groups {
			resp.Groups[s.idx[j]] = g
		}
	}, func() { respond(resp) })
}

// listGroups asks every coordinator of this node for its groups; one still
// loading makes the answer COORDINATOR_LOAD_IN_PROGRESS, with the groups of
// the others.
func (r *router) listGroups(req *netio.Request, body *kmsg.ListGroupsRequest, respond func(kmsg.Response)) {
	resp := body.ResponseKind().(*kmsg.ListGroupsResponse)
	var parts []*groupSplit
	for _, pid := range *r.node.groups.coordinators.Load() {
		parts = append(parts, &groupSplit{pid: pid})
	}
	r.askCoordinators(req, parts, func(*groupSplit) kmsg.Request { return body }, func(_ *groupSplit, answer kmsg.Response) {
		a := answer.(*kmsg.ListGroupsResponse)
		if a.ErrorCode != 0 {
			resp.ErrorCode = a.ErrorCode
		}
		resp.Groups = append(resp.Groups, a.Groups...)
	}, func() {
		sortListedGroups(resp.Groups)
		respond(resp)
	})
}

// sortListedGroups orders ListGroups' answer by group id, as every
// coordinator's part is.
func sortListedGroups(gs []kmsg.ListGroupsResponseGroup) {
	slices.SortFunc(gs, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
}
