package groups

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/internaltopic"
)

// ListGroups, DescribeGroups and DeleteGroups.

func (c *Coordinator) listGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.Version
	matches := func(filter []string, value string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, value) {
				return true
			}
		}
		return false
	}
	for _, g := range c.sortedGroups() {
		state := g.stateName()
		if g.state == stateDead || !matches(req.StatesFilter, state) || !matches(req.TypesFilter, g.kind.String()) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.GroupState, lg.GroupType = g.id, state, g.kind.String()
		lg.ProtocolType = g.protocolType
		if g.kind == kindConsumer {
			lg.ProtocolType = "consumer"
		}
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// describeGroups describes classic groups; a group that does not exist (or
// is a consumer group, which ConsumerGroupDescribe describes) is Dead, or
// GROUP_ID_NOT_FOUND from v6.
func (c *Coordinator) describeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		dg.AuthorizedOperations = -2147483648
		g := c.groups[id]
		switch { // "" is a group id here, as Kafka's coordinator keeps it for old clients
		case g == nil || g.state == stateDead || g.kind != kindClassic:
			dg.State = stateDead.String()
			if req.Version >= 6 {
				dg.ErrorCode = kerr.GroupIDNotFound.Code
				msg := fmt.Sprintf("group %s not found", id)
				if g != nil && g.kind != kindClassic {
					msg = fmt.Sprintf("group %s is not a classic group", id)
				}
				dg.ErrorMessage = &msg
			}
		default:
			dg.State, dg.ProtocolType = g.state.String(), g.protocolType
			stable := g.state == stateStable
			if stable {
				dg.Protocol = g.protocolName
			}
			for _, m := range g.members {
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
				dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
				if stable {
					dm.ProtocolMetadata, dm.MemberAssignment = m.metadataFor(g.protocolName), m.assignment
					if dm.MemberAssignment == nil {
						dm.MemberAssignment = []byte{}
					}
				}
				dg.Members = append(dg.Members, dm)
			}
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

// deleteGroups deletes empty groups with their offsets: they leave memory
// at once, and the answer waits for their tombstones.
func (c *Coordinator) deleteGroups(id internaltopic.RequestID, req *kmsg.DeleteGroupsRequest, now internaltopic.Time) {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.Version
	var tombstones []internaltopic.Record
	var deleted []int
	for _, gid := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = gid
		g := c.groups[gid]
		switch { // "" is a group id here, as Kafka's coordinator keeps it for old clients
		case g == nil || g.state == stateDead:
			dg.ErrorCode = kerr.GroupIDNotFound.Code
		case !g.isEmpty() || c.groupBusy(g):
			dg.ErrorCode = kerr.NonEmptyGroup.Code
		default:
			tombstones = append(tombstones, c.deleteGroupRecords(g)...)
			deleted = append(deleted, len(resp.Groups))
		}
		if dg.ErrorCode != 0 && req.Version >= 3 {
			msg := kerr.ErrorForCode(dg.ErrorCode).Error()
			dg.ErrorMessage = &msg
		}
		resp.Groups = append(resp.Groups, dg)
	}
	if len(tombstones) == 0 {
		c.reply(id, resp)
		return
	}
	c.appendTombstones(tombstones, func(code int16, _ internaltopic.Time) {
		for _, i := range deleted {
			resp.Groups[i].ErrorCode = storeErrorCode(code)
		}
		c.reply(id, resp)
	})
}

// GroupSummary is what metrics and tools read of a group.
type GroupSummary struct {
	Group   string
	Type    string // classic or consumer
	State   string // Kafka's state name
	Members int
}

// Groups summarises every group, sorted by id.
func (c *Coordinator) Groups() []GroupSummary {
	var out []GroupSummary
	for _, g := range c.sortedGroups() {
		n := len(g.members)
		if g.kind == kindConsumer {
			n = len(g.consumer.members)
		}
		out = append(out, GroupSummary{Group: g.id, Type: g.kind.String(), State: g.stateName(), Members: n})
	}
	return out
}

// Rebalances counts the rebalances this coordinator completed: classic
// generations and consumer group epochs.
func (c *Coordinator) Rebalances() int64 { return c.rebalances }

// CommittedOffset is one committed offset of a group.
type CommittedOffset struct {
	Group     string
	Topic     string
	Partition int32
	Offset    int64
}

// CommittedOffsets lists every committed offset, sorted by group and
// partition.
func (c *Coordinator) CommittedOffsets() []CommittedOffset {
	var out []CommittedOffset
	for _, g := range c.sortedGroups() {
		for _, tp := range g.sortedOffsets() {
			out = append(out, CommittedOffset{Group: g.id, Topic: tp.topic, Partition: tp.partition, Offset: g.offsets[tp].offset})
		}
	}
	return out
}
