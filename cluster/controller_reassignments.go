package cluster

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// alterPartitionReassignments decides an AlterPartitionReassignments
// request. A target replica set starts a reassignment: the partition's
// replicas become the target followed by the replicas it drops (which are
// removing), and the target's new brokers are adding; it completes, in the
// same record when it can or later on an AlterPartition, once every target
// replica is in the ISR, and the removing replicas leave. A null target
// cancels the reassignment under way: the adding replicas leave.
func (c *Controller) alterPartitionReassignments(r *kmsg.AlterPartitionAssignmentsRequest) decision {
	resp := r.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	w := c.working
	var recs []MetadataRecord
	for _, rt := range r.Topics {
		out := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		out.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			op := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			op.Partition = rp.Partition
			rec, changed, aerr := c.reassign(w, rt.Topic, rp, r.Version < 1 || r.AllowReplicationFactorChange)
			switch {
			case aerr != nil:
				op.ErrorCode, op.ErrorMessage = aerr.code, &aerr.msg
			case changed:
				recs = append(recs, rec)
				w = mustApply(w, []MetadataRecord{rec})
			}
			out.Partitions = append(out.Partitions, op)
		}
		resp.Topics = append(resp.Topics, out)
	}
	resp.AllowReplicationFactorChange = r.AllowReplicationFactorChange
	return decision{records: recs, image: w, response: resp}
}

// reassign decides one partition of an AlterPartitionReassignments request.
func (c *Controller) reassign(w *MetadataImage, topic string, rp kmsg.AlterPartitionAssignmentsRequestTopicPartition, rfMayChange bool) (PartitionChangeRecord, bool, *apiError) {
	t, ok := w.Topic(topic)
	if !ok {
		return PartitionChangeRecord{}, false, newAPIError(kerr.UnknownTopicOrPartition, "topic %q does not exist", topic)
	}
	if rp.Partition < 0 || rp.Partition >= t.PartitionCount() {
		return PartitionChangeRecord{}, false, newAPIError(kerr.UnknownTopicOrPartition, "topic %q has no partition %d", topic, rp.Partition)
	}
	p := t.Partitions[rp.Partition]
	pc := c.newPartitionChange(w, t, p, func(b int32) bool { return c.activeBroker(w, b) })
	if rp.Replicas == nil {
		if !p.Reassigning() {
			return PartitionChangeRecord{}, false, newAPIError(kerr.NoReassignmentInProgress, "no reassignment of %s-%d is under way", topic, rp.Partition)
		}
		// Back to the replicas before the reassignment; the ISR loses
		// the adding ones.
		pc.replicas = without(p.Replicas, p.AddingReplicas...)
		pc.isr = without(p.ISR, p.AddingReplicas...)
		if len(pc.isr) == 0 {
			if !c.uncleanElectionEnabled(w, t) {
				return PartitionChangeRecord{}, false, newAPIError(kerr.InvalidReplicaAssignment,
					"cancelling the reassignment of %s-%d needs an unclean leader election: only replicas it was adding are in sync", topic, rp.Partition)
			}
			pc.isr = pc.replicas[:1]
		}
		pc.adding, pc.removing = nil, nil
		if c.uncleanElectionEnabled(w, t) {
			pc.election = electUnclean
		}
		rec, changed := pc.build()
		return rec, changed, nil
	}
	target := rp.Replicas
	if problem := c.reassignmentProblem(w, target); problem != "" {
		return PartitionChangeRecord{}, false, newAPIError(kerr.InvalidReplicaAssignment, "replicas %v of %s-%d: %s", target, topic, rp.Partition, problem)
	}
	if !rfMayChange && len(target) != len(without(p.Replicas, p.AddingReplicas...)) {
		return PartitionChangeRecord{}, false, newAPIError(kerr.InvalidReplicationFactor,
			"replicas %v of %s-%d change its replication factor, which the request does not allow", target, topic, rp.Partition)
	}
	pc.removing = without(p.Replicas, target...)
	pc.adding = without(target, p.Replicas...)
	slices.Sort(pc.removing)
	slices.Sort(pc.adding)
	pc.replicas = append(slices.Clone(target), pc.removing...)
	rec, changed := pc.build()
	return rec, changed, nil
}

// reassignmentProblem says what is wrong with a reassignment's target
// replicas, or "".
func (c *Controller) reassignmentProblem(w *MetadataImage, target []int32) string {
	if len(target) == 0 {
		return "no replicas are listed"
	}
	known := c.knownBrokers(w)
	for i, b := range target {
		if !slices.Contains(known, b) {
			return fmt.Sprintf("broker %d is not registered", b)
		}
		if slices.Contains(target[:i], b) {
			return fmt.Sprintf("broker %d is listed twice", b)
		}
	}
	return ""
}

// listPartitionReassignments decides a ListPartitionReassignments request:
// the reassignments under way, of the listed partitions or (null) of all.
func (c *Controller) listPartitionReassignments(r *kmsg.ListPartitionReassignmentsRequest) decision {
	resp := r.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	w := c.working
	list := func(t *TopicImage, partitions []int32) {
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = t.Name
		for _, i := range partitions {
			if i < 0 || i >= t.PartitionCount() || !t.Partitions[i].Reassigning() {
				continue
			}
			p := t.Partitions[i]
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition = i
			rp.Replicas, rp.AddingReplicas, rp.RemovingReplicas = slices.Clone(p.Replicas), nonNilInt32s(slices.Clone(p.AddingReplicas)), nonNilInt32s(slices.Clone(p.RemovingReplicas))
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if r.Topics == nil {
		for t := range w.Topics() {
			all := make([]int32, t.PartitionCount())
			for i := range all {
				all[i] = int32(i)
			}
			list(t, all)
		}
	} else {
		for _, rt := range r.Topics {
			if t, ok := w.Topic(rt.Topic); ok {
				list(t, rt.Partitions)
			}
		}
	}
	return decision{response: resp}
}
