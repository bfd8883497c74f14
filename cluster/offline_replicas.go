package cluster

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// A replica whose log is corrupt or whose storage fails goes offline on its
// broker alone. Kafka reports a failed log directory in BrokerHeartbeat's
// OfflineLogDirs (KIP-858) and its controller moves every replica in that
// directory out of the ISR and leadership away from it. gregor keeps each
// partition in its own directory and treats that directory as the failure
// domain: a broker lists the directory ids of its offline replicas (one id
// per partition, PartitionDirectoryID) in its heartbeats, and the
// controller takes that broker out of those partitions' ISR and elects
// their leaders elsewhere, as it does for a fenced broker, partition by
// partition. A replica that opens again fetches and rejoins the ISR as any
// follower does.

// PartitionDirectoryID is the directory id a broker reports in
// OfflineLogDirs for its replica of a partition.
func PartitionDirectoryID(topic TopicID, partition int32) [16]byte {
	var in [20]byte
	copy(in[:16], topic[:])
	binary.BigEndian.PutUint32(in[16:], uint32(partition))
	sum := sha256.Sum256(in[:])
	var id [16]byte
	copy(id[:], sum[:16])
	return id
}

// SetOfflineDirectories sets the directory ids of the node's offline
// replicas that its heartbeats report from now on. A directory newly
// offline is reported at once, not a heartbeat interval later (Kafka's
// propagateDirectoryFailure): the next heartbeat is due now, or as soon as
// the one in flight is answered (call Tick when NextDeadline says).
func (b *BrokerLifecycle) SetOfflineDirectories(ids [][16]byte) {
	before := b.offlineDirs
	b.offlineDirs = slices.Clone(ids)
	slices.SortFunc(b.offlineDirs, func(x, y [16]byte) int { return slices.Compare(x[:], y[:]) })
	if b.started && b.state != BrokerStarting && b.unreported(before) {
		b.nextSendMs = min(b.nextSendMs, b.lastNowMs)
	}
}

// unreported says some offline directory is not among sent (the ones a
// heartbeat carried).
func (b *BrokerLifecycle) unreported(sent [][16]byte) bool {
	for _, id := range b.offlineDirs {
		if !slices.Contains(sent, id) {
			return true
		}
	}
	return false
}

// offlineReplicaRecords move broker out of the ISR, and leadership away
// from it, of every partition whose directory id offline lists (Kafka's
// handleDirectoriesOffline): its replica there is offline, its records
// kept, so it joins the ELR when the ISR falls below min.insync.replicas,
// and may lead only once its broker no longer reports it offline
// (replicaOffline).
func (c *Controller) offlineReplicaRecords(w *MetadataImage, broker int32, offline [][16]byte) []MetadataRecord {
	if len(offline) == 0 {
		return nil
	}
	return c.replicaLeaves(w, broker, false, func(t *TopicImage, p PartitionImage) bool {
		return (p.Leader == broker || slices.Contains(p.ISR, broker)) &&
			slices.Contains(offline, PartitionDirectoryID(t.ID, p.Partition))
	})
}

// replicaOffline says broker's last heartbeat (of its current registration)
// reported its replica of the partition offline: it may not lead it.
func (c *Controller) replicaOffline(broker int32, topic TopicID, partition int32) bool {
	s := c.sessions[broker]
	if s == nil || len(s.offlineDirs) == 0 {
		return false
	}
	return slices.Contains(s.offlineDirs, PartitionDirectoryID(topic, partition))
}
