package actors

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"go.uber.org/zap"

	"gregor/cluster/quorum"
	"gregor/logstore/raftlog"
	"gregor/logstore/vfs"
)

// openedQuorum is the metadata quorum's core and durable log as a node
// recovered them, and the single-node files its first snapshot replaces.
type openedQuorum struct {
	core *quorum.Quorum
	log  *raftlog.Log
	// migrated are the single-node metadata files to remove once the
	// first snapshot is durable.
	migrated []string
}

// openQuorum recovers the metadata log of the data directory and starts
// the quorum core over it. A data directory of a single node from before
// the quorum is migrated: its metadata becomes the first snapshot of a
// one-voter quorum of this node. A directory that belongs to a formed
// cluster (it has a cluster id) but lost its metadata log is refused: a
// voter that forgot its log could elect a leader missing committed
// metadata.
func (n *Node) openQuorum() (*openedQuorum, error) {
	cfg := n.cfg
	logger := n.logger.Named("quorum")
	log, state, err := raftlog.Open(cfg.FS, filepath.Join(cfg.metadataLogDir(), raftlog.DirName), logger)
	if err != nil {
		return nil, fmt.Errorf("open the metadata log: %w", err)
	}
	legacy, err := readSingleNodeMetadata(cfg.FS, cfg.DataDir, cfg.NodeID)
	if err != nil {
		_ = log.Close()
		return nil, err
	}
	voters := cfg.voterIDs()
	voter := slices.Contains(voters, cfg.NodeID)
	opened := &openedQuorum{log: log}
	var initial []byte
	clusterID := n.ClusterID()
	switch {
	case !state.Empty():
		if len(legacy.files) > 0 {
			// A migration whose first snapshot is durable, the old files
			// not yet removed.
			opened.migrated = legacy.files
		}
	case len(legacy.files) > 0 && voter && len(voters) == 1:
		initial, opened.migrated = legacy.snapshotData(clusterID), legacy.files
		logger.Info("migrating the single-node metadata into the metadata log",
			zap.Strings("files", legacy.files), zap.Int("topics", legacy.image.TopicCount()))
	case len(legacy.files) > 0 && !legacy.empty():
		_ = log.Close()
		return nil, fmt.Errorf("data directory %s holds the metadata of a single gregor node (%d topics, in %s), "+
			"which can only become a metadata quorum of node %d alone: start this node once without controller.quorum.voters "+
			"(or with only itself as voter, process.roles=broker,controller) to migrate it, "+
			"or move the directory aside to start this node as a new member of the cluster",
			cfg.DataDir, legacy.image.TopicCount(), legacy.files[0], cfg.NodeID)
	case len(legacy.files) > 0:
		// An empty single-node directory: it joins as a new node, under the
		// cluster's id.
		opened.migrated = append(legacy.files, filepath.Join(cfg.DataDir, metaPropertiesFile))
		n.setClusterID("")
	case voter && clusterID != "":
		_ = log.Close()
		what := "or empty it to start this node as a new member"
		if len(voters) > 1 {
			what = "or, to have this voter start over from an empty metadata log and catch up from the other voters, " +
				"empty the whole data directory (meta.properties too); until then the quorum runs on without this voter"
		}
		return nil, fmt.Errorf("data directory %s belongs to cluster %s (%s) but %s holds no metadata log (%s): "+
			"a node never starts a new metadata quorum over the directory of a formed cluster; "+
			"restore the directory (or point metadata.log.dir at it); %s",
			cfg.DataDir, clusterID, metaPropertiesFile, cfg.metadataLogDir(), raftlog.DirName, what)
	}
	marker := catchUpMarker(cfg)
	_, statErr := cfg.FS.Stat(marker)
	opened.core, err = quorum.New(quorum.Config{
		NodeID: cfg.NodeID, Voters: voters, CatchingUp: statErr == nil,
		ElectionTimeoutMs: cfg.QuorumElectionTimeoutMs, HeartbeatIntervalMs: cfg.QuorumHeartbeatIntervalMs, SpreadTicks: true,
		InitialSnapshot: initial, SnapshotIntervalBytes: cfg.MetadataSnapshotIntervalBytes,
		Logger: logger,
	}, state)
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("start the metadata quorum: %w", err)
	}
	if opened.core.CatchingUp() && statErr != nil {
		// Durable before this voter takes part in anything: a crash
		// before it caught up must not make it vote by a log it lost.
		if err := vfs.WriteFileAtomic(cfg.FS, marker, []byte("this voter started over from an empty metadata log and has not caught up yet\n")); err != nil {
			_ = log.Close()
			return nil, fmt.Errorf("write %s: %w", marker, err)
		}
	}
	if opened.core.CatchingUp() {
		logger.Info("this voter starts from an empty metadata log (a new quorum's, or one lost): " +
			"it votes for no candidate whose log holds more until it caught up with a leader")
	}
	return opened, nil
}

// catchUpMarker is the file that says this voter started over from an
// empty metadata log and has not caught up yet (quorum.Config.CatchingUp):
// in the metadata log's directory, so that it goes with the log.
func catchUpMarker(cfg Config) string {
	return filepath.Join(cfg.metadataLogDir(), raftlog.DirName, "catching-up")
}

// caughtUp removes the catch-up marker once the core says this voter
// caught up.
func (a *quorumActor) caughtUp() {
	cfg := a.node.cfg
	marker := catchUpMarker(cfg)
	err := cfg.FS.Remove(marker)
	if err == nil {
		err = cfg.FS.SyncDir(filepath.Dir(marker))
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.logger.Warn("catch-up marker not removed", zap.String("file", marker), zap.Error(err))
		return
	}
	a.logger.Info("this voter caught up with the metadata quorum's leader: it votes again")
}
