package cluster

import (
	"maps"
	"slices"
)

// LocalReplica is one partition replica a node hosts.
type LocalReplica struct {
	Topic     string
	TopicID   TopicID
	Partition PartitionImage
}

// ReplicaStop is a replica a node must stop; Delete says its data goes too
// (its topic was deleted, or the replica moved to other brokers).
type ReplicaStop struct {
	LocalReplica
	Delete bool
}

// LocalReplicaChanges is what one node must do when its metadata image moves
// on, in the order to do it: stop, start, reconfigure, then follow
// leadership changes. Each list is in topic name order, then partition
// order.
type LocalReplicaChanges struct {
	Stop  []ReplicaStop
	Start []LocalReplica
	// Reconfigure lists topics the node went on hosting whose effective
	// configs may have changed: their own configs, or the broker defaults.
	Reconfigure []string
	// Changed lists replicas the node went on hosting whose partition
	// record changed (leader, epochs, ISR or replicas).
	Changed []LocalReplica
}

// ReconfigureAfterChanges says whether a shell applies a topic's new
// settings to its replicas after their partition changes of the same
// image move, rather than before: when the new settings lower
// min.insync.replicas. Applied in between, the looser of the two never
// meets the other's old state: a higher setting first holds the old ISR to
// more; a lower one last holds the new ISR to the old, higher one. A
// leader so never advances its high watermark in a state that is looser
// than both the old and the new one (a lower min.insync.replicas counting
// a replica the new ISR dropped, which the image never held together when
// the ISR change was committed first).
func ReconfigureAfterChanges(old, next TopicSettings) bool {
	return next.Replica.MinInsyncReplicas < old.Replica.MinInsyncReplicas
}

// LocalChanges lists what node must do to go from hosting what old assigns
// it to hosting what next assigns it. It visits only the topics that differ
// (the images share the rest), unless the broker defaults changed, which
// reconfigure every topic the node hosts.
func LocalChanges(old, next *MetadataImage, node int32) LocalReplicaChanges {
	var ch LocalReplicaChanges
	reconfigure := map[string]bool{}
	for d := range next.topics.Diff(old.topics, func(a, b *TopicImage) bool { return a == b }) {
		switch {
		case !d.InNew || !d.InOld || d.Old.ID != d.New.ID:
			if d.InOld {
				ch.stopAll(d.Old, node)
			}
			if d.InNew {
				ch.startAll(d.New, node)
			}
		default:
			if ch.compare(d.Old, d.New, node) && !maps.Equal(d.Old.Configs, d.New.Configs) {
				reconfigure[d.New.Name] = true
			}
		}
	}
	if !maps.Equal(old.brokerConfigs, next.brokerConfigs) || !maps.Equal(old.nodeConfigs[node], next.nodeConfigs[node]) {
		for t := range next.Topics() {
			if ot, ok := old.Topic(t.Name); ok && ot.ID == t.ID && hostsAny(ot, node) && hostsAny(t, node) {
				reconfigure[t.Name] = true
			}
		}
	}
	ch.Reconfigure = slices.Sorted(maps.Keys(reconfigure))
	return ch
}

func (ch *LocalReplicaChanges) stopAll(t *TopicImage, node int32) {
	for _, p := range t.Partitions {
		if !p.HostedBy(node) {
			continue
		}
		ch.Stop = append(ch.Stop, ReplicaStop{LocalReplica: LocalReplica{Topic: t.Name, TopicID: t.ID, Partition: p}, Delete: true})
	}
}

func (ch *LocalReplicaChanges) startAll(t *TopicImage, node int32) {
	for _, p := range t.Partitions {
		if p.HostedBy(node) {
			ch.Start = append(ch.Start, LocalReplica{Topic: t.Name, TopicID: t.ID, Partition: p})
		}
	}
}

// compare lists the changes of one topic's partitions and says whether the
// node hosted a replica of it before and after.
func (ch *LocalReplicaChanges) compare(old, next *TopicImage, node int32) bool {
	kept := false
	for i, p := range next.Partitions {
		r := LocalReplica{Topic: next.Name, TopicID: next.ID, Partition: p}
		was, is := i < len(old.Partitions) && old.Partitions[i].HostedBy(node), p.HostedBy(node)
		switch {
		case was && !is:
			ch.Stop = append(ch.Stop, ReplicaStop{LocalReplica: LocalReplica{Topic: old.Name, TopicID: old.ID, Partition: old.Partitions[i]}, Delete: true})
		case !was && is:
			ch.Start = append(ch.Start, r)
		case was && is:
			kept = true
			if !samePartition(old.Partitions[i], p) {
				ch.Changed = append(ch.Changed, r)
			}
		}
	}
	return kept
}

func samePartition(a, b PartitionImage) bool {
	return a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch && a.PartitionEpoch == b.PartitionEpoch &&
		slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR) &&
		slices.Equal(a.AddingReplicas, b.AddingReplicas) && slices.Equal(a.RemovingReplicas, b.RemovingReplicas)
}

func hostsAny(t *TopicImage, node int32) bool {
	return slices.ContainsFunc(t.Partitions, func(p PartitionImage) bool { return p.HostedBy(node) })
}
