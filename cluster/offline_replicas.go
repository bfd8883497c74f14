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

// offlineDirsRecords record the offline replicas a broker's heartbeat
// reports, when they differ from its registration's, so that every
// broker's Metadata lists them (a partition's offline replicas, as Kafka's
// lists the replicas in a failed log directory). Only once the cluster
// finalized ReplicationVersionFeature 2: a build before it does not decode
// the record.
func offlineDirsRecords(w *MetadataImage, b *BrokerRegistration, reported [][16]byte) []MetadataRecord {
	if w.FeatureLevel(ReplicationVersionFeature) < OfflineReplicasRecordedLevel {
		return nil
	}
	dirs := slices.Clone(reported)
	slices.SortFunc(dirs, func(x, y [16]byte) int { return slices.Compare(x[:], y[:]) })
	if slices.Equal(dirs, b.OfflineDirs) {
		return nil
	}
	if dirs == nil {
		dirs = [][16]byte{}
	}
	return []MetadataRecord{BrokerRegistrationChangeRecord{BrokerID: b.ID, BrokerEpoch: b.Epoch, OfflineDirs: dirs}}
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

// An offline replica starts again by itself, after a backoff, not on the
// next change to its partition record (which its own report causes: the
// controller takes it out of the ISR, and a replica restarted then went
// offline again at once while its disk stayed full) nor only when its
// process restarts (Kafka's rule: a failed log directory stays offline
// until the broker restarts). An operator who frees space on a full disk
// expects the broker to use it without a restart, and a retry costs one
// log recovery: its directory is reported online, the replica follows the
// leader, rejoins the ISR once it caught up, and goes offline again (the
// backoff doubled) if its disk still fails. A replica that led when it
// went offline waits for the controller to move that leadership (a new
// leader epoch, or another leader) before it starts: started again as
// leader in the same epoch, from the high watermark of its checkpoint, its
// high watermark would go back within an epoch, which consumers may have
// read past; the controller acts on the broker's report within
// milliseconds, or fences the broker when the report cannot reach it. The
// backoff starts at
// OfflineRetryBackoffMs and doubles on every failure, up to
// OfflineRetryBackoffMaxMs; a replica that ran that long before it failed
// again starts from the first backoff.

// Defaults of OfflineReplicasOptions.
const (
	DefaultOfflineRetryBackoffMs    int64 = 2_000
	DefaultOfflineRetryBackoffMaxMs int64 = 60_000
)

// OfflineReplicasOptions are the retry backoffs of OfflineReplicas.
type OfflineReplicasOptions struct {
	// RetryBackoffMs is how long a replica stays offline after its first
	// failure; each failure in a row doubles it, up to RetryBackoffMaxMs.
	RetryBackoffMs, RetryBackoffMaxMs int64
}

// OfflineReplicaID names a node's replica of a partition.
type OfflineReplicaID struct {
	TopicID   TopicID
	Partition int32
}

// OfflineReplicas is a node's record of its offline replicas and when each
// starts again, a core without I/O: the shell tells it when a replica went
// offline (its log corrupt or its disk failing) and when one started, asks
// which are Due at its clock's time and starts those, and reports
// Directories in its heartbeats.
type OfflineReplicas struct {
	opts     OfflineReplicasOptions
	replicas map[OfflineReplicaID]*offlineReplica
}

// offlineReplica is the retry state of one replica the node hosts that went
// offline at least once.
type offlineReplica struct {
	offline bool
	// ledEpoch is the leader epoch the replica led in when it went
	// offline; -1 when it followed.
	ledEpoch int32
	// failures counts the failures in a row; retryAtMs is when an offline
	// replica starts again; startedMs is when it last started.
	failures             int
	retryAtMs, startedMs int64
}

// NewOfflineReplicas is a node's record with no replica offline; zero
// options take the defaults.
func NewOfflineReplicas(opts OfflineReplicasOptions) *OfflineReplicas {
	if opts.RetryBackoffMs <= 0 {
		opts.RetryBackoffMs = DefaultOfflineRetryBackoffMs
	}
	if opts.RetryBackoffMaxMs < opts.RetryBackoffMs {
		opts.RetryBackoffMaxMs = max(DefaultOfflineRetryBackoffMaxMs, opts.RetryBackoffMs)
	}
	return &OfflineReplicas{opts: opts, replicas: map[OfflineReplicaID]*offlineReplica{}}
}

// WentOffline records that the replica stopped at nowMs, its partition
// record then rec (which names this node, node, as leader, or not), and
// returns when it may start again.
func (o *OfflineReplicas) WentOffline(id OfflineReplicaID, nowMs int64, rec PartitionImage, node int32) int64 {
	r := o.replicas[id]
	if r == nil {
		r = &offlineReplica{startedMs: nowMs}
		o.replicas[id] = r
	}
	if nowMs-r.startedMs >= o.opts.RetryBackoffMaxMs {
		r.failures = 0 // it ran a while: this failure is a new one
	}
	r.offline, r.ledEpoch = true, -1
	if rec.Leader == node {
		r.ledEpoch = rec.LeaderEpoch
	}
	r.failures++
	backoff := o.opts.RetryBackoffMaxMs
	if r.failures <= 32 {
		backoff = min(o.opts.RetryBackoffMs<<(r.failures-1), o.opts.RetryBackoffMaxMs)
	}
	r.retryAtMs = nowMs + backoff
	return r.retryAtMs
}

// MayStart says whether an offline replica Due lists starts now, its
// partition record being rec (on this node, node): not while the record
// still names it leader in the epoch it led in when it went offline; it is
// then due again after the first backoff. The shell starts it when it
// may (and calls Started).
func (o *OfflineReplicas) MayStart(id OfflineReplicaID, nowMs int64, rec PartitionImage, node int32) bool {
	r := o.replicas[id]
	if r == nil || !r.offline || r.ledEpoch < 0 || rec.Leader != node || rec.LeaderEpoch != r.ledEpoch {
		return true
	}
	r.retryAtMs = nowMs + o.opts.RetryBackoffMs
	return false
}

// Started records that the replica started at nowMs (a retry Due listed,
// or the node started hosting it): it is online until it fails again.
func (o *OfflineReplicas) Started(id OfflineReplicaID, nowMs int64) {
	if r := o.replicas[id]; r != nil {
		r.offline, r.startedMs = false, nowMs
	}
}

// Removed forgets a replica the node no longer hosts.
func (o *OfflineReplicas) Removed(id OfflineReplicaID) { delete(o.replicas, id) }

// Offline says the replica is offline.
func (o *OfflineReplicas) Offline(id OfflineReplicaID) bool {
	r := o.replicas[id]
	return r != nil && r.offline
}

// Due lists the offline replicas to start again at nowMs, in id order; the
// shell starts each (and calls Started).
func (o *OfflineReplicas) Due(nowMs int64) []OfflineReplicaID {
	var due []OfflineReplicaID
	for id, r := range o.replicas {
		if r.offline && r.retryAtMs <= nowMs {
			due = append(due, id)
		}
	}
	slices.SortFunc(due, compareOfflineReplicaIDs)
	return due
}

// NextRetryMs is when the next offline replica starts again; false when
// none is offline.
func (o *OfflineReplicas) NextRetryMs() (int64, bool) {
	at, ok := int64(0), false
	for _, r := range o.replicas {
		if r.offline && (!ok || r.retryAtMs < at) {
			at, ok = r.retryAtMs, true
		}
	}
	return at, ok
}

// Directories are the directory ids (PartitionDirectoryID) of the offline
// replicas, sorted: what the broker's heartbeats report.
func (o *OfflineReplicas) Directories() [][16]byte {
	var dirs [][16]byte
	for id, r := range o.replicas {
		if r.offline {
			dirs = append(dirs, PartitionDirectoryID(id.TopicID, id.Partition))
		}
	}
	slices.SortFunc(dirs, func(x, y [16]byte) int { return slices.Compare(x[:], y[:]) })
	return dirs
}

func compareOfflineReplicaIDs(x, y OfflineReplicaID) int {
	if c := slices.Compare(x.TopicID[:], y.TopicID[:]); c != 0 {
		return c
	}
	return int(x.Partition) - int(y.Partition)
}
