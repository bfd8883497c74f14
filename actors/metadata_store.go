package actors

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"gregor/cluster"
	"gregor/logstore/vfs"
)

// metadataFile holds the single node's metadata image until the clustering
// issue moves metadata into the Raft log.
const metadataFile = "__gregor_metadata.json"

var errNotExist = fs.ErrNotExist

// loadMetadataImage reads the node's metadata image (a version 1 file, from
// before partitions had records, as nodeID's); a missing file is an
// empty image (first start).
func loadMetadataImage(fsys vfs.FS, dir string, nodeID int32) (*cluster.MetadataImage, error) {
	path := filepath.Join(dir, metadataFile)
	p, err := readWholeFile(fsys, path)
	if errors.Is(err, errNotExist) {
		return cluster.NewMetadataImage(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	img, err := cluster.UnmarshalMetadataSnapshot(p, nodeID)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// saveMetadataImage replaces the node's metadata file atomically.
func saveMetadataImage(fsys vfs.FS, dir string, img *cluster.MetadataImage) error {
	p, err := img.MarshalSnapshot()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, metadataFile)
	if err := vfs.WriteFileAtomic(fsys, path, p); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// readWholeFile reads a small file through the vfs.
func readWholeFile(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, 0, 0)
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
