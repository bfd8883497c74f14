package sim

import "slices"

// loseMetadataLog plays Profile.MetadataLogLossShare after a power loss of
// n: a broker-only node (not among the quorum's voters) loses its whole
// metadata log directory with that probability, its partition directories
// kept, as when an operator wipes the directory or its disk is replaced.
// It restarts with an empty log; the quorum's leader, which remembers
// what the node acknowledged, sends it a snapshot once the node says its
// log is gone (cluster/quorum/lost_log.go). A voter never loses its log
// here: the wipe profile wipes whole data directories, voters' too
// (data_wipe.go; a voter starts over catching up, and the leader that
// knew it hands its leadership on: cluster/quorum/catch_up.go,
// lost_log.go). It draws from its
// own stream, and only for a learner when the share is set, so that other
// profiles and three-node runs replay as before.
func (w *World) loseMetadataLog(n *node) {
	share := w.profile.MetadataLogLossShare
	if share <= 0 || slices.Contains(w.voters, n.id) || !chance(w.rngMetadataLogLoss, share) {
		return
	}
	if err := n.fs.RemoveAll(metadataLogDir); err != nil {
		w.timelinef("%s: the metadata log could not be removed: %v", n.name(), err)
		return
	}
	if err := n.fs.SyncDir(dataDir); err != nil {
		w.timelinef("%s: the data directory could not be synced: %v", n.name(), err)
		return
	}
	w.stats.MetadataLogsLost++
	w.timelinef("fault: %s lost its metadata log", n.name())
}
