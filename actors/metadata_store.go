package actors

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/logstore/vfs"
)

// metadataLogFile is the single node's metadata log, until the clustering
// issue moves metadata into a Raft log: a snapshot batch of records, then a
// batch per committed change, in the records' durable encoding
// (cluster.AppendMetadataBatch).
const metadataLogFile = "__gregor_metadata.log"

// legacyMetadataFile is the JSON snapshot that preceded the log; a data
// directory that has one is moved to the log on first start.
const legacyMetadataFile = "__gregor_metadata.json"

// compactSlackBytes is how far the log may grow past twice its snapshot
// before it is rewritten as a snapshot, so rewriting costs O(1) per change
// on average.
const compactSlackBytes = 1 << 20

var errNotExist = fs.ErrNotExist

// metadataStore is the durable metadata log. The controller actor owns it;
// nothing else calls it.
type metadataStore struct {
	fs     vfs.FS
	path   string
	f      vfs.File
	size   int64 // bytes of whole batches
	limit  int64 // size past which the log is rewritten as a snapshot
	img    *cluster.MetadataImage
	broken error
	logger *zap.Logger
}

// openMetadataStore reads the node's metadata log, cutting off a batch a
// crash tore, or creates it (from the legacy JSON snapshot, read as nodeID's
// when its version is 1, or empty on first start).
func openMetadataStore(fsys vfs.FS, dir string, nodeID int32, logger *zap.Logger) (*metadataStore, error) {
	s := &metadataStore{fs: fsys, path: filepath.Join(dir, metadataLogFile), logger: logger}
	p, err := readWholeFile(fsys, s.path)
	switch {
	case err == nil:
		img, whole, err := cluster.ReplayMetadataLog(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.path, err)
		}
		if whole < len(p) {
			logger.Warn("metadata log ends in a torn batch; cut off", zap.Int("bytes", len(p)-whole))
		}
		s.img, s.size = img, int64(whole)
		s.limit = 2*s.size + compactSlackBytes
		if err := s.openForAppend(whole < len(p)); err != nil {
			_ = s.close()
			return nil, err
		}
		return s, nil
	case !errors.Is(err, errNotExist):
		return nil, fmt.Errorf("read %s: %w", s.path, err)
	}
	img := cluster.NewMetadataImage()
	legacy := filepath.Join(dir, legacyMetadataFile)
	p, err = readWholeFile(fsys, legacy)
	switch {
	case err == nil:
		if img, err = cluster.UnmarshalLegacySnapshot(p, nodeID); err != nil {
			return nil, fmt.Errorf("%s: %w", legacy, err)
		}
	case !errors.Is(err, errNotExist):
		return nil, fmt.Errorf("read %s: %w", legacy, err)
	}
	s.img = img
	if err := s.rewrite(); err != nil {
		return nil, err
	}
	if len(p) > 0 {
		// The log holds the image durably; the JSON file goes.
		if err := fsys.Remove(legacy); err != nil {
			return nil, fmt.Errorf("remove %s: %w", legacy, err)
		}
		if err := fsys.SyncDir(dir); err != nil {
			return nil, fmt.Errorf("sync %s: %w", dir, err)
		}
		logger.Info("metadata moved from the JSON snapshot to the metadata log", zap.Int("topics", img.TopicCount()))
	}
	return s, nil
}

// image is the image the log holds.
func (s *metadataStore) image() *cluster.MetadataImage { return s.img }

// append makes records durable; next is the image they lead to. A failed
// write is cut off again; if that fails too, the log refuses every later
// append (the node must restart to recover it).
func (s *metadataStore) append(recs []cluster.MetadataRecord, next *cluster.MetadataImage) error {
	if s.broken != nil {
		return s.broken
	}
	p := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Epoch: s.img.Epoch, Records: recs})
	_, err := s.f.WriteAt(p, s.size)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		err = fmt.Errorf("append to %s: %w", s.path, err)
		if terr := s.f.Truncate(s.size); terr != nil {
			s.broken = fmt.Errorf("metadata log unusable until restart: %w (cutting it back: %v)", err, terr)
		}
		return err
	}
	s.size += int64(len(p))
	s.img = next
	if s.size > s.limit {
		if err := s.rewrite(); err != nil {
			// The log still holds every record; it only stays long.
			s.logger.Warn("metadata log not compacted", zap.Error(err))
		}
	}
	return nil
}

// rewrite replaces the log with a snapshot of the image.
func (s *metadataStore) rewrite() error {
	p := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Snapshot: true, Epoch: s.img.Epoch, Records: s.img.SnapshotRecords()})
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
	err := vfs.WriteFileAtomic(s.fs, s.path, p)
	if err == nil {
		s.size, s.limit = int64(len(p)), 2*int64(len(p))+compactSlackBytes
	}
	// Whether or not the snapshot replaced it, the log is whole: go on
	// appending to what is there.
	if oerr := s.openForAppend(false); oerr != nil {
		return errors.Join(err, oerr)
	}
	return err
}

func (s *metadataStore) openForAppend(truncate bool) error {
	f, err := s.fs.OpenFile(s.path, os.O_WRONLY, 0o644)
	if err != nil {
		s.broken = fmt.Errorf("open %s: %w", s.path, err)
		return s.broken
	}
	s.f = f
	if truncate {
		if err := f.Truncate(s.size); err != nil {
			return fmt.Errorf("cut %s back to %d bytes: %w", s.path, s.size, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", s.path, err)
		}
	}
	return nil
}

func (s *metadataStore) close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// readWholeFile reads a small file through the vfs.
func readWholeFile(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	const maxMetadataBytes = 256 << 20
	if size > maxMetadataBytes {
		return nil, fmt.Errorf("%s is %d bytes, more than a metadata file may be", path, size)
	}
	p := make([]byte, size)
	if _, err := f.ReadAt(p, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return p, nil
}

// metaPropertiesFile holds the data directory's cluster id and node id, as
// Kafka's does.
const metaPropertiesFile = "meta.properties"

// loadOrCreateMetaProperties reads the cluster id and node id of the data
// directory, creating them on first start; a directory of another node is
// refused.
func loadOrCreateMetaProperties(fs vfs.FS, dir string, nodeID int32, entropy io.Reader) (string, error) {
	path := filepath.Join(dir, metaPropertiesFile)
	p, err := readWholeFile(fs, path)
	if err == nil {
		props := map[string]string{}
		for _, line := range strings.Split(string(p), "\n") {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if ok && !strings.HasPrefix(k, "#") {
				props[k] = v
			}
		}
		if got := props["node.id"]; got != fmt.Sprint(nodeID) {
			return "", fmt.Errorf("%s belongs to node.id %s, this node is %d", path, got, nodeID)
		}
		if props["cluster.id"] == "" {
			return "", fmt.Errorf("%s has no cluster.id", path)
		}
		return props["cluster.id"], nil
	}
	if !errors.Is(err, errNotExist) {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	var id cluster.TopicID
	if _, err := io.ReadFull(entropy, id[:]); err != nil {
		return "", fmt.Errorf("cluster id: %w", err)
	}
	clusterID := strings.ReplaceAll(id.String(), "-", "")[:22]
	content := fmt.Sprintf("# written by gregor\nversion=1\ncluster.id=%s\nnode.id=%d\n", clusterID, nodeID)
	if err := vfs.WriteFileAtomic(fs, path, []byte(content)); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return clusterID, nil
}
