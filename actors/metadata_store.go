package actors

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"gregor/cluster"
	"gregor/logstore"
	"gregor/logstore/vfs"
)

// The metadata of a data directory lives in the metadata quorum's raft log
// (logstore/raftlog, in __cluster_metadata, in the metadata log directory:
// Kafka's metadata.log.dir, by default the data directory) and its cluster
// id in meta.properties (in the metadata log directory too, when it is
// another). Data directories of a single node from before the quorum
// hold their metadata in one of two older files, which a node migrates into
// the raft log's first snapshot on its first start (quorum_start.go).
const (
	// metadataLogFile is the single node's metadata log: a snapshot batch
	// of records, then a batch per committed change
	// (cluster.AppendMetadataBatch).
	metadataLogFile = "__gregor_metadata.log"
	// legacyMetadataFile is the JSON snapshot that preceded that log.
	legacyMetadataFile = "__gregor_metadata.json"
	// metaPropertiesFile holds the data directory's cluster id and node
	// id, as Kafka's does.
	metaPropertiesFile = "meta.properties"
)

// singleNodeMetadata is what a single-node data directory from before the
// metadata quorum holds: its image, and the files it was read from.
type singleNodeMetadata struct {
	image *cluster.MetadataImage
	files []string
}

// empty says the directory holds no metadata worth keeping.
func (m singleNodeMetadata) empty() bool {
	return m.image == nil || (m.image.TopicCount() == 0 && m.image.BrokerCount() == 0 && len(m.image.BrokerConfigs()) == 0)
}

// readSingleNodeMetadata reads the single node's metadata log (cutting off
// a batch a crash tore), else its JSON snapshot (version 1 read as nodeID's
// partitions); none of them is no metadata.
func readSingleNodeMetadata(fsys vfs.FS, dir string, nodeID int32) (singleNodeMetadata, error) {
	var m singleNodeMetadata
	logPath, jsonPath := filepath.Join(dir, metadataLogFile), filepath.Join(dir, legacyMetadataFile)
	p, err := readWholeFile(fsys, logPath)
	switch {
	case err == nil:
		img, _, err := cluster.ReplayMetadataLog(p)
		if err != nil {
			return m, fmt.Errorf("%s: %w", logPath, err)
		}
		m.image, m.files = img, []string{logPath}
	case !errors.Is(err, fs.ErrNotExist):
		return m, fmt.Errorf("read %s: %w", logPath, err)
	}
	p, err = readWholeFile(fsys, jsonPath)
	switch {
	case err == nil:
		m.files = append(m.files, jsonPath)
		if m.image == nil {
			if m.image, err = cluster.UnmarshalLegacySnapshot(p, nodeID); err != nil {
				return m, fmt.Errorf("%s: %w", jsonPath, err)
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return m, fmt.Errorf("read %s: %w", jsonPath, err)
	}
	return m, nil
}

// snapshotData is the metadata as the first snapshot of a one-voter quorum:
// the cluster id the directory had, then the image's records.
func (m singleNodeMetadata) snapshotData(clusterID string) []byte {
	var recs []cluster.MetadataRecord
	if clusterID != "" {
		recs = append(recs, cluster.ClusterIDRecord{ClusterID: clusterID})
	}
	recs = append(recs, m.image.SnapshotRecords()...)
	return cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Snapshot: true, Epoch: m.image.Epoch, Records: recs})
}

// removeFiles removes files the raft log made obsolete, and syncs dir.
func removeFiles(fsys vfs.FS, dir string, files []string) error {
	for _, f := range files {
		if err := fsys.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", f, err)
		}
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// readWholeFile reads a small metadata file through the vfs.
func readWholeFile(fsys vfs.FS, path string) ([]byte, error) {
	const maxMetadataBytes = 256 << 20
	return logstore.ReadWholeFile(fsys, path, maxMetadataBytes)
}

// readMetaProperties reads the cluster id of the data directory ("" when
// meta.properties does not exist yet); a directory of another node is
// refused.
func readMetaProperties(fsys vfs.FS, dir string, nodeID int32) (string, error) {
	path := filepath.Join(dir, metaPropertiesFile)
	p, err := readWholeFile(fsys, path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	props := map[string]string{}
	for _, line := range strings.Split(string(p), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && !strings.HasPrefix(k, "#") {
			props[k] = v
		}
	}
	if got := props["node.id"]; got != fmt.Sprint(nodeID) {
		return "", fmt.Errorf("%s belongs to node.id %s, this node is %d: give each node a directory of its own (log.dirs, metadata.log.dir), "+
			"or start this one as that node (--set node.id=%s)", path, got, nodeID, got)
	}
	if props["cluster.id"] == "" {
		return "", fmt.Errorf("%s has no cluster.id", path)
	}
	return props["cluster.id"], nil
}

// writeMetaProperties records the cluster id of the data directory.
func writeMetaProperties(fsys vfs.FS, dir string, nodeID int32, clusterID string) error {
	path := filepath.Join(dir, metaPropertiesFile)
	content := fmt.Sprintf("# written by gregor\nversion=1\ncluster.id=%s\nnode.id=%d\n", clusterID, nodeID)
	if err := vfs.WriteFileAtomic(fsys, path, []byte(content)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// metadataLogDir is the directory of the metadata log: metadata.log.dir,
// else the data directory, as Kafka places it in the first of log.dirs.
func (c Config) metadataLogDir() string {
	if c.MetadataLogDir == "" || filepath.Clean(c.MetadataLogDir) == filepath.Clean(c.DataDir) {
		return c.DataDir
	}
	return c.MetadataLogDir
}

// readClusterID reads the cluster id of the data directory and, when the
// metadata log lives in another directory, of that one too ("" when
// neither names one yet): both must belong to this node, and name the
// same cluster when both name one.
func readClusterID(c Config) (string, error) {
	id, err := readMetaProperties(c.FS, c.DataDir, c.NodeID)
	dir := c.metadataLogDir()
	if err != nil || dir == c.DataDir {
		return id, err
	}
	if err := c.FS.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create metadata.log.dir %s: %w", dir, err)
	}
	other, err := readMetaProperties(c.FS, dir, c.NodeID)
	switch {
	case err != nil:
		return "", err
	case id != "" && other != "" && id != other:
		return "", fmt.Errorf("metadata.log.dir %s belongs to cluster %s but log.dirs %s to cluster %s: "+
			"point metadata.log.dir at this node's metadata log", dir, other, c.DataDir, id)
	case id == "":
		return other, nil
	}
	return id, nil
}

// writeClusterID records the cluster id in the data directory and, when
// the metadata log lives in another directory, in that one.
func writeClusterID(c Config, clusterID string) error {
	if err := writeMetaProperties(c.FS, c.DataDir, c.NodeID, clusterID); err != nil {
		return err
	}
	if dir := c.metadataLogDir(); dir != c.DataDir {
		return writeMetaProperties(c.FS, dir, c.NodeID, clusterID)
	}
	return nil
}
