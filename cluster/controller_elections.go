package cluster

import (
	"slices"
	"strconv"
)

// election is how a partition change picks its leader (Kafka's
// PartitionChangeBuilder.Election).
type election int8

const (
	// electOnline keeps a valid leader, else elects the first valid
	// replica: one in the ISR whose broker is acceptable.
	electOnline election = iota
	// electPreferred elects the first replica if it is valid, else acts as
	// electOnline.
	electPreferred
	// electUnclean acts as electOnline, and when no replica is valid
	// elects the first acceptable replica outside the ISR, which becomes
	// the whole ISR: records the ISR had may be lost.
	electUnclean
)

// partitionChange builds the one PartitionChangeRecord that moves a
// partition to a target ISR and assignment, electing a leader as the
// election says. Without eligible leader replicas (KIP-966's ELR, which
// gregor does not keep), the ISR never becomes empty: when its last member
// leaves, it stays, and the partition goes leaderless until that member
// can lead again (or an unclean election picks another).
type partitionChange struct {
	id TopicID
	p  PartitionImage
	// isr, replicas, adding and removing are the targets.
	isr, replicas, adding, removing []int32
	election                        election
	// acceptable says a broker may lead.
	acceptable func(int32) bool
}

func newPartitionChange(id TopicID, p PartitionImage, acceptable func(int32) bool) *partitionChange {
	return &partitionChange{id: id, p: p, isr: slices.Clone(p.ISR), replicas: slices.Clone(p.Replicas),
		adding: slices.Clone(p.AddingReplicas), removing: slices.Clone(p.RemovingReplicas), acceptable: acceptable}
}

// build returns the record, or false when nothing changes.
func (pc *partitionChange) build() (PartitionChangeRecord, bool) {
	rec := PartitionChangeRecord{TopicID: pc.id, Partition: pc.p.Partition, Leader: NoLeaderChange}
	pc.completeReassignment()
	if leader, unclean := pc.elect(); leader != pc.p.Leader {
		rec.Leader = leader
		if unclean {
			rec.ISR = []int32{leader}
		}
	}
	// A replica set that loses a broker raises the leader epoch, so the
	// removed replica's fetches are fenced.
	if rec.Leader == NoLeaderChange && !containsAll(pc.replicas, pc.p.Replicas) {
		rec.Leader = pc.p.Leader
	}
	if rec.ISR == nil && len(pc.isr) > 0 && !slices.Equal(pc.isr, pc.p.ISR) {
		rec.ISR = pc.isr
	}
	if !slices.Equal(pc.replicas, pc.p.Replicas) {
		rec.Replicas = pc.replicas
	}
	if !slices.Equal(pc.adding, pc.p.AddingReplicas) {
		rec.AddingReplicas = nonNilInt32s(pc.adding)
	}
	if !slices.Equal(pc.removing, pc.p.RemovingReplicas) {
		rec.RemovingReplicas = nonNilInt32s(pc.removing)
	}
	noChange := rec.Leader == NoLeaderChange && rec.ISR == nil && rec.Replicas == nil &&
		rec.AddingReplicas == nil && rec.RemovingReplicas == nil
	return rec, !noChange
}

// completeReassignment ends a reassignment once every replica it keeps is
// in the target ISR: the removing replicas leave the replicas and the ISR
// (unless that would empty either).
func (pc *partitionChange) completeReassignment() {
	if len(pc.adding) == 0 && len(pc.removing) == 0 {
		return
	}
	isr, replicas := without(pc.isr, pc.removing...), without(pc.replicas, pc.removing...)
	if len(isr) == 0 || len(replicas) == 0 || !containsAll(isr, replicas) {
		return
	}
	pc.isr, pc.replicas = isr, replicas
	pc.adding, pc.removing = nil, nil
}

func (pc *partitionChange) valid(b int32) bool { return slices.Contains(pc.isr, b) && pc.acceptable(b) }

// elect returns the leader after the change and whether the election was
// unclean.
func (pc *partitionChange) elect() (int32, bool) {
	if pc.election == electPreferred && len(pc.replicas) > 0 && pc.valid(pc.replicas[0]) {
		return pc.replicas[0], false
	}
	if pc.p.Leader >= 0 && pc.valid(pc.p.Leader) {
		return pc.p.Leader, false
	}
	if i := slices.IndexFunc(pc.replicas, pc.valid); i >= 0 {
		return pc.replicas[i], false
	}
	if pc.election == electUnclean {
		if i := slices.IndexFunc(pc.replicas, pc.acceptable); i >= 0 {
			return pc.replicas[i], true
		}
	}
	return noBroker, false
}

// leaderAndISRUpdates changes every partition of w that match selects as
// brokers come and go (Kafka's generateLeaderAndIsrUpdates): remove (or
// noBroker) leaves every ISR and may not lead; add (or noBroker) may lead
// although w does not show it active yet. Each partition gets an unclean
// election where its topic allows one.
func (c *Controller) leaderAndISRUpdates(w *MetadataImage, remove, add int32, match func(PartitionImage) bool) []MetadataRecord {
	acceptable := func(b int32) bool { return b != remove && (b == add || c.activeBroker(w, b)) }
	var out []MetadataRecord
	for t := range w.Topics() {
		unclean := c.uncleanElectionEnabled(w, t)
		for _, p := range t.Partitions {
			if !match(p) {
				continue
			}
			pc := newPartitionChange(t.ID, p, acceptable)
			if unclean {
				pc.election = electUnclean
			}
			pc.isr = without(p.ISR, remove)
			if rec, ok := pc.build(); ok {
				out = append(out, rec)
			}
		}
	}
	return out
}

// uncleanElectionEnabled reads the topic's unclean.leader.election.enable.
func (c *Controller) uncleanElectionEnabled(w *MetadataImage, t *TopicImage) bool {
	v, _ := TopicConfigValue(t, BrokerConfigs{Dynamic: w.BrokerConfigs(), Static: c.cfg.StaticBrokerConfigs}, "unclean.leader.election.enable")
	enabled, _ := strconv.ParseBool(v)
	return enabled
}

// inISR selects the partitions whose ISR holds broker.
func inISR(broker int32) func(PartitionImage) bool {
	return func(p PartitionImage) bool { return slices.Contains(p.ISR, broker) }
}

func leaderless(p PartitionImage) bool { return p.Leader == noBroker }

// leadsAny says broker leads a partition of w.
func leadsAny(w *MetadataImage, broker int32) bool {
	for t := range w.Topics() {
		for _, p := range t.Partitions {
			if p.Leader == broker {
				return true
			}
		}
	}
	return false
}

// without copies s without the given brokers.
func without(s []int32, drop ...int32) []int32 {
	out := make([]int32, 0, len(s))
	for _, b := range s {
		if !slices.Contains(drop, b) {
			out = append(out, b)
		}
	}
	return out
}

// containsAll says every member of sub is in s.
func containsAll(s, sub []int32) bool {
	for _, b := range sub {
		if !slices.Contains(s, b) {
			return false
		}
	}
	return true
}

// nonNilInt32s is s, or an empty slice for nil: in a change record nil
// means "unchanged".
func nonNilInt32s(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
