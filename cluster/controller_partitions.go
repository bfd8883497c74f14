package cluster

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// alterPartition decides an AlterPartition request: a partition leader
// asks for a new ISR, checked against the partition's leader and partition
// epochs and against the brokers it names. Each accepted partition answers
// with its state after the change.
func (c *Controller) alterPartition(r *kmsg.AlterPartitionRequest) decision {
	resp := r.ResponseKind().(*kmsg.AlterPartitionResponse)
	w := c.working
	if b, ok := w.Broker(r.BrokerID); !ok || b.Epoch != r.BrokerEpoch {
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return decision{response: resp, reason: fmt.Sprintf("AlterPartition from broker %d with broker epoch %d, which is not its registration's", r.BrokerID, r.BrokerEpoch)}
	}
	var recs []MetadataRecord
	for _, rt := range r.Topics {
		out := kmsg.NewAlterPartitionResponseTopic()
		out.Topic, out.TopidID = rt.Topic, rt.TopicID
		var t *TopicImage
		var ok bool
		if r.Version > 1 {
			t, ok = w.TopicByID(rt.TopicID)
		} else {
			t, ok = w.Topic(rt.Topic)
		}
		for _, rp := range rt.Partitions {
			op := kmsg.NewAlterPartitionResponseTopicPartition()
			op.Partition = rp.Partition
			switch {
			case !ok && r.Version > 1:
				op.ErrorCode = kerr.UnknownTopicID.Code
			case !ok:
				op.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				var rec []MetadataRecord
				rec, w = c.alterOnePartition(w, r, t, rp, &op)
				recs = append(recs, rec...)
			}
			out.Partitions = append(out.Partitions, op)
		}
		resp.Topics = append(resp.Topics, out)
	}
	return decision{records: recs, image: w, response: resp}
}

// alterOnePartition validates and applies one partition's new ISR, filling
// its answer; it returns the records and the working image after them.
func (c *Controller) alterOnePartition(w *MetadataImage, r *kmsg.AlterPartitionRequest, t *TopicImage, rp kmsg.AlterPartitionRequestTopicPartition, op *kmsg.AlterPartitionResponseTopicPartition) ([]MetadataRecord, *MetadataImage) {
	t, _ = w.TopicByID(t.ID) // as earlier partitions of the request left it
	isr := newISRWithEpochs(r.Version, rp)
	if code := c.checkAlterPartition(w, r, t, rp, isr); code != 0 {
		op.ErrorCode = code
		return nil, w
	}
	p := t.Partitions[rp.Partition]
	pc := c.newPartitionChange(w, t, p, func(b int32) bool { return c.activeBroker(w, b) })
	if c.uncleanElectionEnabled(w, t) {
		pc.election = electUnclean
	}
	pc.isr = make([]int32, 0, len(isr))
	for _, s := range isr {
		pc.isr = append(pc.isr, s.BrokerID)
	}
	rec, changed := pc.build()
	var recs []MetadataRecord
	if changed {
		recs = []MetadataRecord{rec}
		w = mustApply(w, recs)
		nt, _ := w.TopicByID(t.ID)
		p = nt.Partitions[rp.Partition]
		if rec.Leader != NoLeaderChange && rec.Leader != r.BrokerID {
			// Completing a reassignment moved leadership away from the
			// broker that asked: it must learn the new leader first.
			op.ErrorCode = kerr.NewLeaderElected.Code
			if r.Version <= 1 {
				op.ErrorCode = kerr.FencedLeaderEpoch.Code
			}
			return recs, w
		}
	}
	op.LeaderID, op.LeaderEpoch, op.ISR, op.PartitionEpoch = p.Leader, p.LeaderEpoch, slices.Clone(p.ISR), p.PartitionEpoch
	return recs, w
}

// newISRWithEpochs is the requested ISR with the broker epochs (v3+); an
// older request's brokers carry epoch -1, which skips the check.
func newISRWithEpochs(version int16, rp kmsg.AlterPartitionRequestTopicPartition) []kmsg.AlterPartitionRequestTopicPartitionNewEpochISR {
	if version >= 3 {
		return rp.NewEpochISR
	}
	out := make([]kmsg.AlterPartitionRequestTopicPartitionNewEpochISR, 0, len(rp.NewISR))
	for _, b := range rp.NewISR {
		out = append(out, kmsg.AlterPartitionRequestTopicPartitionNewEpochISR{BrokerID: b, BrokerEpoch: -1})
	}
	return out
}

// checkAlterPartition validates one partition of an AlterPartition request
// in Kafka's order, returning an error code or 0.
func (c *Controller) checkAlterPartition(w *MetadataImage, r *kmsg.AlterPartitionRequest, t *TopicImage, rp kmsg.AlterPartitionRequestTopicPartition, isr []kmsg.AlterPartitionRequestTopicPartitionNewEpochISR) int16 {
	if rp.Partition < 0 || rp.Partition >= t.PartitionCount() {
		return kerr.UnknownTopicOrPartition.Code
	}
	p := t.Partitions[rp.Partition]
	switch {
	case rp.LeaderEpoch > p.LeaderEpoch, rp.PartitionEpoch > p.PartitionEpoch:
		// The leader knows a newer state than this controller: this
		// controller is likely no longer the active one.
		return kerr.NotController.Code
	case rp.LeaderEpoch < p.LeaderEpoch:
		return kerr.FencedLeaderEpoch.Code
	case r.BrokerID != p.Leader:
		return kerr.NotLeaderForPartition.Code
	case rp.PartitionEpoch < p.PartitionEpoch:
		return kerr.InvalidUpdateVersion.Code
	case rp.LeaderRecoveryState != 0:
		// gregor never elects a leader that must recover (KIP-704), so
		// the only state is RECOVERED.
		return kerr.InvalidRequest.Code
	}
	ids := make([]int32, 0, len(isr))
	for _, s := range isr {
		if !slices.Contains(p.Replicas, s.BrokerID) || slices.Contains(ids, s.BrokerID) {
			return kerr.InvalidRequest.Code
		}
		ids = append(ids, s.BrokerID)
	}
	if !slices.Contains(ids, p.Leader) {
		return kerr.InvalidRequest.Code
	}
	for _, s := range isr {
		b, ok := w.Broker(s.BrokerID)
		ineligible := !ok || b.Fenced || b.InControlledShutdown || s.BrokerEpoch != -1 && s.BrokerEpoch != b.Epoch
		if !ok && c.activeBroker(w, s.BrokerID) {
			ineligible = false // a static broker
		}
		// A replica its broker reports offline (a failed log) joins no
		// ISR until it reports it online again.
		ineligible = ineligible || c.replicaOffline(s.BrokerID, t.ID, p.Partition)
		if ineligible {
			if r.Version > 1 {
				return kerr.IneligibleReplica.Code
			}
			return kerr.OperationNotAttempted.Code
		}
	}
	return 0
}

// electLeaders decides an ElectLeaders request: preferred (type 0) or
// unclean (type 1) elections of the listed partitions, or of every
// partition when the list is null (then the partitions that need none are
// left out of the answer).
func (c *Controller) electLeaders(r *kmsg.ElectLeadersRequest) decision {
	resp := r.ResponseKind().(*kmsg.ElectLeadersResponse)
	if r.ElectionType != 0 && r.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return decision{response: resp, reason: fmt.Sprintf("unknown election type %d", r.ElectionType)}
	}
	kind := electPreferred
	if r.ElectionType == 1 {
		kind = electUnclean
	}
	w := c.working
	var recs []MetadataRecord
	elect := func(topic string, partition int32) kmsg.ElectLeadersResponseTopicPartition {
		rp := kmsg.NewElectLeadersResponseTopicPartition()
		rp.Partition = partition
		rec, aerr := c.electLeader(w, topic, partition, kind)
		if aerr != nil {
			rp.ErrorCode, rp.ErrorMessage = aerr.code, &aerr.msg
			return rp
		}
		recs = append(recs, rec)
		w = mustApply(w, []MetadataRecord{rec})
		return rp
	}
	if r.Topics == nil {
		for _, name := range w.TopicNames() {
			t, _ := w.Topic(name)
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = name
			for p := range t.PartitionCount() {
				if rp := elect(name, p); rp.ErrorCode != kerr.ElectionNotNeeded.Code {
					rt.Partitions = append(rt.Partitions, rp)
				}
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return decision{records: recs, image: w, response: resp}
	}
	for _, t := range r.Topics {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rt.Partitions = append(rt.Partitions, elect(t.Topic, p))
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return decision{records: recs, image: w, response: resp}
}

// electLeader elects a leader for one partition as an ElectLeaders request
// asks.
func (c *Controller) electLeader(w *MetadataImage, topic string, partition int32, kind election) (PartitionChangeRecord, *apiError) {
	t, ok := w.Topic(topic)
	if !ok {
		return PartitionChangeRecord{}, newAPIError(kerr.UnknownTopicOrPartition, "topic %q does not exist", topic)
	}
	if partition < 0 || partition >= t.PartitionCount() {
		return PartitionChangeRecord{}, newAPIError(kerr.UnknownTopicOrPartition, "topic %q has no partition %d", topic, partition)
	}
	p := t.Partitions[partition]
	if kind == electPreferred && p.Leader == p.Replicas[0] {
		return PartitionChangeRecord{}, newAPIError(kerr.ElectionNotNeeded, "the preferred replica %d leads %s-%d", p.Leader, topic, partition)
	}
	if kind == electUnclean && p.Leader != noBroker {
		return PartitionChangeRecord{}, newAPIError(kerr.ElectionNotNeeded, "broker %d leads %s-%d", p.Leader, topic, partition)
	}
	pc := c.newPartitionChange(w, t, p, func(b int32) bool { return c.activeBroker(w, b) })
	pc.election = kind
	rec, ok := pc.build()
	switch {
	case ok:
		return rec, nil
	case kind == electPreferred:
		return PartitionChangeRecord{}, newAPIError(kerr.PreferredLeaderNotAvailable, "the preferred replica %d of %s-%d is not in the ISR %v, or is fenced or shutting down", p.Replicas[0], topic, partition, p.ISR)
	default:
		return PartitionChangeRecord{}, newAPIError(kerr.EligibleLeadersNotAvailable, "no replica of %s-%d (%v) is unfenced and able to lead", topic, partition, p.Replicas)
	}
}
