package actors

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore"
)

// A broker's replica manager holds the metadata images back from its
// replicas and coordinators until the broker caught up with the metadata
// log (cluster.BrokerLifecycle decides; Kafka's broker publishes its image
// only after its initial catch-up): a restarted node's first images are the
// ones it persisted before it stopped, and acting on them would lead
// partitions and coordinators at leader epochs the cluster has left. While
// holding, the manager publishes routes over the newest image with no
// partition actors (Metadata is answered, partitions are not), and notes
// the replicas the images took away from the node, whose data goes before
// the caught-up image starts the rest.

// publishCaughtUp tells the replica manager the broker caught up: it starts
// the node's replicas on the newest image, and answers caughtUpPublished.
type publishCaughtUp struct{}

// caughtUpPublished answers publishCaughtUp once the replicas started.
type caughtUpPublished struct{}

// replicaHold is what a holding replica manager keeps.
type replicaHold struct {
	on bool
	// image is the newest image held back.
	image *cluster.MetadataImage
	// retired are the replicas the held images removed from this node (or
	// whose topic went): their data is deleted on release.
	retired []cluster.ReplicaStop
}

// startHold makes a broker's manager hold back until its node published
// a caught-up image once (a manager restarted by supervision does not
// hold again).
func (m *replicaManager) startHold() {
	m.hold = replicaHold{on: m.node.cfg.Roles.Broker && !m.node.imagePublished.Load(), image: cluster.NewMetadataImage()}
	if m.hold.on {
		m.preloads = m.node.newLogPreloads()
	}
}

// offer applies an image, or holds it back.
func (m *replicaManager) offer(ctx actor.Context, next *cluster.MetadataImage) {
	if !m.hold.on {
		m.apply(ctx, next)
		return
	}
	ch := cluster.LocalChanges(m.hold.image, next, m.node.cfg.NodeID)
	for _, st := range ch.Stop {
		if st.Delete {
			m.hold.retired = append(m.hold.retired, st)
		}
	}
	m.hold.image = next
	m.preloads.add(next, ch.Start)
	m.node.routes.store(&routes{image: next, partitions: m.slots.commit()})
}

// release ends the hold: the data of the replicas the held images removed
// goes, then the newest image starts the node's replicas and coordinators.
func (m *replicaManager) release(ctx actor.Context) {
	if !m.hold.on {
		return
	}
	h := m.hold
	m.hold = replicaHold{}
	m.node.imagePublished.Store(true)
	m.logger.Info("metadata caught up: starting replicas", zap.Int64("metadata_offset", h.image.LastOffset()))
	for _, st := range h.retired {
		m.preloads.discard(m.node.partitionDir(st.Topic, st.Partition.Partition))
		_, kept := h.image.TopicByID(st.TopicID)
		m.data.expect(m.node.partitionDir(st.Topic, st.Partition.Partition), st.Topic, !kept)
		m.retire(ctx, &hostedReplica{topic: st.Topic, topicID: st.TopicID, partition: st.Partition.Partition, topicDeleted: !kept})
	}
	m.renameStrays(h.image)
	m.apply(ctx, h.image)
	// What the caught-up image does not start here is closed before any
	// later image could start a replica in its directory.
	m.preloads.discardAll()
	m.preloads = nil
}

// strayDirSuffix ends the name of a partition directory the node found it
// does not host (cluster.StrayPartitionDirs), as in Kafka: renamed aside so
// that no replica adopts it, and kept for the operator to look at.
const strayDirSuffix = "-stray"

// renameStrays renames aside the partition directories the caught-up image
// does not give the node, or gives it for another topic of the name than
// the one whose log a directory records (cluster.StrayPartitionDirs
// decides), before any replica starts.
func (m *replicaManager) renameStrays(img *cluster.MetadataImage) {
	fsys, root := m.node.cfg.FS, m.node.cfg.DataDir
	names, err := fsys.ReadDir(root)
	if err != nil {
		m.logger.Error("list log dir", zap.Error(err))
		return
	}
	recorded := m.recordedTopicIDs(img, names)
	for _, name := range cluster.StrayPartitionDirs(img, m.node.cfg.NodeID, names, recorded) {
		dir := filepath.Join(root, name)
		if m.data.busy(dir) {
			continue // a retired replica's, whose rename failed: it stays as it is
		}
		if fi, err := fsys.Stat(dir); err != nil || !fi.IsDir() {
			continue // a file named like a partition's is not a log
		}
		if holdsMetadataLog(dir, m.node.cfg.MetadataLogDir) {
			continue // metadata.log.dir, or a directory holding it, named like a partition's
		}
		m.preloads.discard(dir)
		stray, err := m.node.renameStray(dir)
		if stray == "" {
			m.logger.Error("stray partition directory not renamed", zap.String("dir", dir), zap.Error(err))
			continue
		}
		if err != nil {
			m.logger.Error("stray partition directory renamed, not durably", zap.String("dir", dir), zap.Error(err))
		}
		fields := []zap.Field{zap.String("dir", dir), zap.String("renamed", stray)}
		if id, hosted := cluster.HostedPartitionDir(img, m.node.cfg.NodeID, name); hosted {
			m.logger.Warn("stray partition directory renamed aside: it holds the log of another topic of that name; its data is kept",
				append(fields, zap.Stringer("recorded_topic_id", recorded[name]), zap.Stringer("topic_id", id))...)
			continue
		}
		m.logger.Warn("stray partition directory renamed aside: the metadata gives this node no replica of it; its data is kept", fields...)
	}
}

// recordedTopicIDs reads the topic ids the partition directories among
// names record whose name the image gives the node (the others are stray
// whatever they record). A file that cannot be read leaves its directory
// to be judged by name; its replica's log then fails to open, saying why.
func (m *replicaManager) recordedTopicIDs(img *cluster.MetadataImage, names []string) map[string]cluster.TopicID {
	out := map[string]cluster.TopicID{}
	for _, name := range names {
		if _, hosted := cluster.HostedPartitionDir(img, m.node.cfg.NodeID, name); !hosted {
			continue
		}
		id, ok, err := logstore.ReadPartitionMetadata(m.node.cfg.FS, filepath.Join(m.node.cfg.DataDir, name))
		if err != nil {
			m.logger.Warn("partition directory's topic id unreadable", zap.String("dir", name), zap.Error(err))
		}
		if ok {
			out[name] = id
		}
	}
	return out
}

// renameStray renames the partition directory dir aside as stray, durably,
// and returns its new name ("" when it was not renamed; with an error too
// when the rename may not be durable).
func (n *Node) renameStray(dir string) (string, error) {
	stray := fmt.Sprintf("%s.%x%s", dir, n.cfg.Clock.Now().WallMs, strayDirSuffix)
	if err := n.cfg.FS.Rename(dir, stray); err != nil {
		return "", err
	}
	if err := n.cfg.FS.SyncDir(filepath.Dir(dir)); err != nil {
		return stray, fmt.Errorf("renamed to %s, directory sync: %w", stray, err)
	}
	return stray, nil
}

// holdsMetadataLog reports whether metadataDir is dir or lies inside it.
func holdsMetadataLog(dir, metadataDir string) bool {
	if metadataDir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, metadataDir)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
