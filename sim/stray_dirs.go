package sim

import (
	"errors"
	"fmt"

	"gregor/cluster"
	"gregor/logstore"
)

// renameStrays renames aside, as production's replica manager does once
// the node caught up with the metadata log and before any replica starts,
// the partition directories its image does not give the node, or gives it
// for another topic of that name than the one whose id the directory's
// partition.metadata records (cluster.StrayPartitionDirs): a topic deleted
// (and perhaps created again under its name) while the node was down, or
// a replica moved away meanwhile. Left under its name, a directory would
// be adopted by the next replica of that name with the old records in it
// (logstore then refuses a directory that records another topic's id). The
// simulator keeps what it knew of the directory's log no longer.
func (n *node) renameStrays() {
	w := n.w
	names, err := n.fs.ReadDir(dataDir)
	if err != nil {
		w.tracef("%s: list the data directory: %v", n.name(), err)
		return
	}
	recorded := map[string]cluster.TopicID{}
	for _, name := range names {
		if _, hosted := cluster.HostedPartitionDir(n.image, n.id, name); !hosted {
			continue
		}
		if id, ok, err := logstore.ReadPartitionMetadata(n.fs, dataDir+"/"+name); ok && err == nil {
			recorded[name] = id
		}
	}
	for _, name := range cluster.StrayPartitionDirs(n.image, n.id, names, recorded) {
		dir := dataDir + "/" + name
		if fi, err := n.fs.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		stray := fmt.Sprintf("%s.%x-stray", dir, n.instant().WallMs)
		if err := n.fs.Rename(dir, stray); err != nil {
			w.tracef("%s: stray partition directory %s not renamed: %v", n.name(), name, err)
			n.leaveDir(name) // a disk fault: the next start renames it
			continue
		}
		_ = n.fs.SyncDir(dataDir)
		topic, partition, _ := cluster.ParsePartitionDir(name)
		k := tpKey{topic, partition}
		delete(n.closedShadows, k)
		delete(n.diskEnd, k)
		delete(n.preCrashEnd, k)
		delete(n.syncedAtPowerLoss, k)
		w.stats.StrayDirsRenamed++
		why := "the metadata gives this node no replica of it"
		if id, hosted := cluster.HostedPartitionDir(n.image, n.id, name); hosted {
			why = fmt.Sprintf("it holds the log of topic id %s, not of %s's id %s", recorded[name], topic, id)
			w.stats.StrayDirsOfOtherTopic++
		}
		w.timelinef("%s: stray partition directory %s renamed aside: %s", n.name(), name, why)
	}
}

// openLog opens the replica's log; a directory that holds another topic's
// log under this one's name (its id recorded after the node's stray check)
// goes aside, as production's partition does, and the replica starts
// empty.
func (h *replicaHost) openLog(opts logstore.Options) (*logstore.Log, error) {
	log, err := logstore.Open(opts)
	if !errors.Is(err, logstore.ErrInconsistentTopicID) {
		return log, err
	}
	n := h.n
	stray := fmt.Sprintf("%s.%x-stray", opts.Dir, n.instant().WallMs)
	if rerr := n.fs.Rename(opts.Dir, stray); rerr != nil {
		return nil, fmt.Errorf("%w; renaming it aside: %w", err, rerr)
	}
	_ = n.fs.SyncDir(dataDir)
	delete(n.closedShadows, h.key)
	delete(n.diskEnd, h.key)
	delete(n.preCrashEnd, h.key)
	delete(n.syncedAtPowerLoss, h.key)
	n.w.stats.StrayDirsRenamed++
	n.w.stats.StrayDirsOfOtherTopic++
	n.w.timelinef("%s: %s's directory holds another topic's log: renamed aside, the replica starts empty", n.name(), h.key)
	return logstore.Open(opts)
}
