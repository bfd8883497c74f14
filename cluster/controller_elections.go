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
// election says (Kafka's PartitionChangeBuilder).
//
// Without eligible leader replicas (a cluster below
// eligible.leader.replicas.version 1), the ISR never becomes empty: when its
// last member leaves, it stays, and the partition goes leaderless until that
// member can lead again (or an unclean election picks another).
//
// With them (KIP-966), the ISR may empty. While the target ISR is below
// min.insync.replicas (bounded by the replica count, as the leader's high
// watermark is), whoever leaves the ISR joins the ELR: the high watermark
// does not advance then, so each holds every committed record. An ELR
// member may lead once the ISR is empty, and then becomes the whole ISR. A
// broker that shut down uncleanly (uncleanShutdown) may have lost records,
// so it leaves the ISR and the ELR for the last known ELR. An ISR back at
// min.insync.replicas clears both sets (the high watermark moves again, so
// their members fall behind), the ISR an ELR election makes (the leader
// alone) too; so does an unclean election. A partition
// left without a leader and with an empty ISR keeps the leader it had
// first in its last known ELR (keepLastKnownLeader), in the ELR too when
// it went there. When the ISR and the ELR are both empty, every replica
// that held the committed records shut down uncleanly: the last known
// leader, and only it, leads once unfenced, as after an unclean election
// (Kafka 3.7 to 4.x do the same: PartitionChangeBuilder's
// canElectLastKnownLeader; KIP-966's unclean recovery, which would ask
// the replicas for their logs first, is not in Kafka).
type partitionChange struct {
	id TopicID
	p  PartitionImage
	// isr, replicas, adding, removing, elr and lastKnownELR are the
	// targets.
	isr, replicas, adding, removing []int32
	elr, lastKnownELR               []int32
	election                        election
	// acceptable says a broker may lead.
	acceptable func(int32) bool
	// elrEnabled says the cluster keeps eligible leader replicas; minISR
	// is the partition's min.insync.replicas bounded by its replica count.
	elrEnabled bool
	minISR     int
	// uncleanShutdown is a broker that registered after an unclean
	// shutdown (noBroker: none).
	uncleanShutdown int32
}

// newPartitionChange starts a change of partition p of topic t as image w
// has it.
func (c *Controller) newPartitionChange(w *MetadataImage, t *TopicImage, p PartitionImage, acceptable func(int32) bool) *partitionChange {
	online := func(b int32) bool { return acceptable(b) && !c.replicaOffline(b, t.ID, p.Partition) }
	pc := &partitionChange{id: t.ID, p: p, isr: slices.Clone(p.ISR), replicas: slices.Clone(p.Replicas),
		adding: slices.Clone(p.AddingReplicas), removing: slices.Clone(p.RemovingReplicas),
		elr: slices.Clone(p.ELR), lastKnownELR: slices.Clone(p.LastKnownELR), acceptable: online,
		elrEnabled: elrEnabled(w), uncleanShutdown: noBroker, election: electOnline}
	if pc.elrEnabled {
		pc.minISR = c.effectiveMinISR(w, t, p)
	}
	return pc
}

// elrEnabled says the cluster finalized eligible.leader.replicas.version 1.
func elrEnabled(w *MetadataImage) bool { return w.FeatureLevel(EligibleLeaderReplicasFeature) >= 1 }

// effectiveMinISR is the topic's min.insync.replicas bounded by the
// partition's replica count: what the leader's high watermark waits for
// (Replica.effectiveMinISR).
func (c *Controller) effectiveMinISR(w *MetadataImage, t *TopicImage, p PartitionImage) int {
	v, _ := TopicConfigValue(t, BrokerConfigs{Dynamic: w.BrokerConfigs(), Static: c.cfg.StaticBrokerConfigs}, "min.insync.replicas")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		n = 1
	}
	return min(n, max(len(p.Replicas), 1))
}

// build returns the record, or false when nothing changes.
func (pc *partitionChange) build() (PartitionChangeRecord, bool) {
	rec := PartitionChangeRecord{TopicID: pc.id, Partition: pc.p.Partition, Leader: NoLeaderChange}
	pc.completeReassignment()
	pc.populateELR()
	unclean := false
	if leader, u := pc.elect(); leader != pc.p.Leader {
		rec.Leader, unclean = leader, u
		switch {
		case unclean:
			rec.ISR = []int32{leader}
		case len(pc.isr) == 0 && slices.Contains(pc.elr, leader):
			// Elected from the ELR: it holds every committed record.
			pc.isr, pc.elr = []int32{leader}, without(pc.elr, leader)
			if len(pc.isr) >= pc.minISR {
				// Its ISR alone reaches min.insync.replicas (lowered
				// while the ISR was empty), so its high watermark
				// moves and the others fall behind: as populateELR
				// does for an ISR at min.insync.replicas.
				pc.elr, pc.lastKnownELR = nil, nil
			}
		}
	}
	// A replica set that loses a broker raises the leader epoch, so the
	// removed replica's fetches are fenced.
	if rec.Leader == NoLeaderChange && !containsAll(pc.replicas, pc.p.Replicas) {
		rec.Leader = pc.p.Leader
	}
	if rec.Leader == noBroker || rec.Leader == NoLeaderChange && pc.p.Leader < 0 {
		pc.keepLastKnownLeader()
	}
	if unclean || !pc.elrEnabled {
		pc.elr, pc.lastKnownELR = nil, nil
	}
	if !slices.Equal(pc.elr, pc.p.ELR) {
		rec.ELR = nonNilInt32s(pc.elr)
	}
	if !slices.Equal(pc.lastKnownELR, pc.p.LastKnownELR) {
		rec.LastKnownELR = nonNilInt32s(pc.lastKnownELR)
	}
	if rec.ISR == nil && (len(pc.isr) > 0 || pc.elrEnabled) && !slices.Equal(pc.isr, pc.p.ISR) {
		rec.ISR = nonNilInt32s(pc.isr)
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
		rec.AddingReplicas == nil && rec.RemovingReplicas == nil && rec.ELR == nil && rec.LastKnownELR == nil
	return rec, !noChange
}

// populateELR moves the targets of the ELR and the last known ELR as the
// target ISR says (Kafka's maybePopulateTargetElr): an ISR at
// min.insync.replicas clears both; one below it puts the members of the
// current ISR and ELR outside the target ISR into the ELR, except a broker
// that shut down uncleanly, which goes to the last known ELR with those
// already there. Both hold only replicas, in the replicas' order, but for
// the last known leader, first in the last known ELR.
//
// Without eligible leader replicas, an ELR or last known ELR left by the
// cluster before it stopped keeping them is dropped; when they had emptied
// the ISR (the current and the target ISR are empty), the ISR becomes the
// ELR (each member holds every committed record), else the first of the
// last known ELR (the last known leader): what the ISR would have kept
// without them.
func (pc *partitionChange) populateELR() {
	if !pc.elrEnabled {
		if len(pc.isr) == 0 && len(pc.p.ISR) == 0 {
			elr := slices.DeleteFunc(slices.Clone(pc.elr), func(b int32) bool { return !slices.Contains(pc.replicas, b) })
			switch {
			case len(elr) > 0:
				pc.isr = elr
			case len(pc.lastKnownELR) > 0 && slices.Contains(pc.replicas, pc.lastKnownELR[0]):
				pc.isr = pc.lastKnownELR[:1:1]
			}
		}
		pc.elr, pc.lastKnownELR = nil, nil
		return
	}
	if len(pc.isr) >= pc.minISR {
		pc.elr, pc.lastKnownELR = nil, nil
		return
	}
	var elr, lastKnown []int32
	for _, b := range pc.replicas {
		wasEligible := slices.Contains(pc.elr, b) || slices.Contains(pc.p.ISR, b)
		switch {
		case slices.Contains(pc.isr, b):
		case wasEligible && b != pc.uncleanShutdown:
			elr = append(elr, b)
		case wasEligible || slices.Contains(pc.lastKnownELR, b):
			lastKnown = append(lastKnown, b)
		}
	}
	// The last known leader goes first: the leader that shut down
	// uncleanly now, else the one first before (keepLastKnownLeader puts
	// the leader a partition loses first once it has none).
	head := noBroker
	switch {
	case slices.Contains(lastKnown, pc.p.Leader) && !slices.Contains(pc.p.LastKnownELR, pc.p.Leader):
		head = pc.p.Leader
	case len(pc.p.LastKnownELR) > 0 && slices.Contains(lastKnown, pc.p.LastKnownELR[0]):
		head = pc.p.LastKnownELR[0]
	}
	if head != noBroker {
		lastKnown = append([]int32{head}, without(lastKnown, head)...)
	}
	pc.elr, pc.lastKnownELR = elr, lastKnown
}

// keepLastKnownLeader puts the last known leader first in the target last
// known ELR of a partition left without a leader and with an empty ISR
// (Kafka's maybeUpdateLastKnownLeader): the leader it had until this
// change, else the one its last known ELR already starts with. It is the
// replica elected once no other is eligible, and the one most likely to
// hold every committed record: it led last. It stays first while in the
// ELR too (the one replica both may hold), so an ELR member that led last
// and then shut down uncleanly goes before replicas that left the ISR or
// the ELR uncleanly earlier (seed 220110: broker 3 led last, shut down
// without losing anything and counted as unclean; broker 1, which led
// before it and lost power, was elected ahead of it).
func (pc *partitionChange) keepLastKnownLeader() {
	if !pc.elrEnabled || len(pc.isr) > 0 {
		return
	}
	head := pc.p.Leader
	if head < 0 && len(pc.p.LastKnownELR) > 0 {
		head = pc.p.LastKnownELR[0]
	}
	if head < 0 || !slices.Contains(pc.elr, head) && !slices.Contains(pc.lastKnownELR, head) {
		return
	}
	pc.lastKnownELR = append([]int32{head}, without(pc.lastKnownELR, head)...)
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

// valid says b may lead cleanly: it is in the target ISR, or in the ELR
// when the target ISR is empty, and acceptable.
func (pc *partitionChange) valid(b int32) bool {
	eligible := slices.Contains(pc.isr, b) || len(pc.isr) == 0 && slices.Contains(pc.elr, b)
	return eligible && pc.acceptable(b)
}

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
	if len(pc.isr) == 0 && len(pc.elr) == 0 && len(pc.lastKnownELR) > 0 && slices.Contains(pc.replicas, pc.lastKnownELR[0]) &&
		pc.acceptable(pc.lastKnownELR[0]) {
		// As Kafka 3.7 to 4.x elect the last known leader: no replica is
		// eligible because every one that held the committed records (at
		// least min.insync.replicas of them) shut down uncleanly since.
		// The last known leader, first in the last known ELR, leads once
		// it can, as after an unclean election: it led last, so it most
		// likely holds the most.
		return pc.lastKnownELR[0], true
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
			pc := c.newPartitionChange(w, t, p, acceptable)
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

// uncleanShutdownUpdates change every partition whose ISR or ELR holds
// broker, which registered after an unclean shutdown (KIP-966): it may have
// lost records it acknowledged, so it leaves the ISR and the ELR (for the
// last known ELR) and may not lead.
func (c *Controller) uncleanShutdownUpdates(w *MetadataImage, broker int32) []MetadataRecord {
	return c.replicaLeaves(w, broker, true, func(_ *TopicImage, p PartitionImage) bool {
		return slices.Contains(p.ISR, broker) || slices.Contains(p.ELR, broker)
	})
}

// replicaLeaves moves broker out of the ISR, and leadership away from it,
// of every partition that picks selects. When lost (an unclean shutdown:
// its replica may have lost records) it leaves the ELR too, for the last
// known ELR; otherwise (a failed directory: its replica is offline for now,
// its records kept) it joins the ELR as any replica leaving an ISR below
// min.insync.replicas does, as Kafka's handleDirectoriesOffline.
func (c *Controller) replicaLeaves(w *MetadataImage, broker int32, lost bool, picks func(*TopicImage, PartitionImage) bool) []MetadataRecord {
	acceptable := func(b int32) bool { return b != broker && c.activeBroker(w, b) }
	var out []MetadataRecord
	for t := range w.Topics() {
		unclean := c.uncleanElectionEnabled(w, t)
		for _, p := range t.Partitions {
			if !picks(t, p) {
				continue
			}
			pc := c.newPartitionChange(w, t, p, acceptable)
			if unclean {
				pc.election = electUnclean
			}
			pc.isr = without(p.ISR, broker)
			if lost {
				pc.uncleanShutdown = broker
			}
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
