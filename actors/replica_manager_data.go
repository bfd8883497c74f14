package actors

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/cluster"
)

// partitionSlots are the partition actors of each topic as the routes
// publish them. Published slices never change: a topic changed while
// handling a message gets a draft, copied once, which commit publishes.
type partitionSlots struct {
	published cluster.PersistentMap[string, []*actor.PID]
	drafts    map[string][]*actor.PID
	dropped   map[string]bool
}

func (s *partitionSlots) pids(topic string) []*actor.PID {
	if d, ok := s.drafts[topic]; ok {
		return d
	}
	if s.dropped[topic] {
		return nil
	}
	pids, _ := s.published.Get(topic)
	return pids
}

func (s *partitionSlots) get(topic string, partition int32) *actor.PID {
	pids := s.pids(topic)
	if partition < 0 || int(partition) >= len(pids) {
		return nil
	}
	return pids[partition]
}

// set routes a partition to pid (nil: none), sizing the topic's slots to
// its partitions in img.
func (s *partitionSlots) set(img *cluster.MetadataImage, topic string, partition int32, pid *actor.PID) {
	d, ok := s.drafts[topic]
	if !ok {
		if s.drafts == nil {
			s.drafts = map[string][]*actor.PID{}
		}
		d = append([]*actor.PID(nil), s.pids(topic)...)
	}
	size := int(partition) + 1
	if t, ok := img.Topic(topic); ok {
		size = max(size, len(t.Partitions))
	}
	for len(d) < size {
		d = append(d, nil)
	}
	d[partition] = pid
	s.drafts[topic] = d
}

// drop forgets a deleted topic's slots.
func (s *partitionSlots) drop(topic string) {
	delete(s.drafts, topic)
	if s.dropped == nil {
		s.dropped = map[string]bool{}
	}
	s.dropped[topic] = true
}

// commit publishes the drafts and returns what the routes hold.
func (s *partitionSlots) commit() cluster.PersistentMap[string, []*actor.PID] {
	for topic := range s.dropped {
		s.published = s.published.Delete(topic)
	}
	for topic, d := range s.drafts {
		s.published = s.published.Set(topic, d)
	}
	s.drafts, s.dropped = nil, nil
	return s.published
}

// dataRemoval tracks the data of deleted replicas. When a deleted
// replica's actor has stopped, its directory is renamed at once to
// topic-N.<topic id>-delete, which frees the name for a new replica and
// ends the deletion for the controller; the renamed directories are removed
// off the manager's mailbox, by one goroutine at a time.
type dataRemoval struct {
	queued  []string
	running bool
	// busyDirs holds the directories of replicas stopping to be deleted.
	busyDirs map[string]bool
	// deferred holds replicas to start in a directory once it is free.
	deferred map[string]cluster.LocalReplica
	// topics counts, per deleted topic, the partitions not yet retired.
	topics map[string]int
}

// deletedDirSuffix ends the name of a retired partition directory, as in
// Kafka; a node removes any it finds when it starts.
const deletedDirSuffix = "-delete"

// partitionDataRemoved reports the removal of retired directories.
type partitionDataRemoved struct{ errs []error }

func newDataRemoval() dataRemoval {
	return dataRemoval{busyDirs: map[string]bool{}, deferred: map[string]cluster.LocalReplica{}, topics: map[string]int{}}
}

func (d *dataRemoval) busy(dir string) bool { return d.busyDirs[dir] }

// expect notes a replica whose data will be deleted once its actor stops.
func (d *dataRemoval) expect(dir, topic string, topicDeleted bool) {
	d.busyDirs[dir] = true
	if topicDeleted {
		d.topics[topic]++
	}
}

// run starts removing the queued directories, unless a removal runs.
func (d *dataRemoval) run(ctx actor.Context, n *Node) {
	if d.running || len(d.queued) == 0 {
		return
	}
	batch := d.queued
	d.queued, d.running = nil, true
	self, root, fsys := ctx.Self(), n.system.Root, n.cfg.FS
	go func() {
		var errs []error
		for _, dir := range batch {
			if err := fsys.RemoveAll(dir); err != nil {
				errs = append(errs, err)
			}
		}
		root.Send(self, &partitionDataRemoved{errs: errs})
	}()
}

// queueLeftovers queues the retired directories a previous run left.
func (m *replicaManager) queueLeftovers() {
	names, err := m.node.cfg.FS.ReadDir(m.node.cfg.DataDir)
	if err != nil {
		m.logger.Error("list log dir", zap.Error(err))
		return
	}
	for _, name := range names {
		if strings.HasSuffix(name, deletedDirSuffix) {
			m.data.queued = append(m.data.queued, filepath.Join(m.node.cfg.DataDir, name))
		}
	}
}

// retire deletes the data of a replica whose actor stopped: it renames the
// directory aside (durably), counts the partition towards its topic's
// deletion, and starts a replica waiting for the directory, saying so (the
// caller publishes the routes).
func (m *replicaManager) retire(ctx actor.Context, r *hostedReplica) (started bool) {
	m.removeSeries(r.topic, r.partition)
	dir := m.node.partitionDir(r.topic, r.partition)
	fsys := m.node.cfg.FS
	retired := fmt.Sprintf("%s.%x%s", dir, r.topicID[:], deletedDirSuffix)
	switch err := fsys.Rename(dir, retired); {
	case errors.Is(err, fs.ErrNotExist):
		// The replica never created its directory.
	case err != nil:
		// The directory stays busy: no replica may adopt its data.
		m.logger.Error("partition directory not removed", zap.String("dir", dir), zap.Error(err))
		return false
	default:
		if err := fsys.SyncDir(m.node.cfg.DataDir); err != nil {
			m.logger.Error("sync log dir", zap.Error(err))
		}
		m.data.queued = append(m.data.queued, retired)
	}
	delete(m.data.busyDirs, dir)
	if r.topicDeleted {
		if m.data.topics[r.topic]--; m.data.topics[r.topic] <= 0 {
			delete(m.data.topics, r.topic)
			if _, again := m.image.Topic(r.topic); !again {
				// A new topic of the name keeps its series.
				m.node.metrics.topicBytesIn.DeleteLabelValues(r.topic)
				m.node.metrics.topicBytesOut.DeleteLabelValues(r.topic)
			}
			m.logger.Info("topic data removed", zap.String("topic", r.topic))
		}
	}
	if next, ok := m.data.deferred[dir]; ok {
		delete(m.data.deferred, dir)
		if t, ok := m.image.TopicByID(next.TopicID); ok && int(next.Partition.Partition) < len(t.Partitions) {
			next.Partition = t.Partitions[next.Partition.Partition]
			m.start(ctx, next)
			started = true
		}
	}
	m.data.run(ctx, m.node)
	return started
}

// dataRemoved ends a removal run and starts the next.
func (m *replicaManager) dataRemoved(ctx actor.Context, msg *partitionDataRemoved) {
	m.data.running = false
	for _, err := range msg.errs {
		m.logger.Error("remove retired partition directory", zap.Error(err))
	}
	m.data.run(ctx, m.node)
}

// removeSeries drops a deleted partition's metric series.
func (m *replicaManager) removeSeries(topic string, partition int32) {
	labels := partitionLabels(topic, partition)
	m.node.metrics.logEndOffset.DeleteLabelValues(labels...)
	m.node.metrics.logSizeBytes.DeleteLabelValues(labels...)
}
