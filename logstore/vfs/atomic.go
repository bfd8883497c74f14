package vfs

import (
	"fmt"
	"os"
	"path"
)

// TempSuffix ends the name of the temporary file WriteFileAtomic writes
// beside its target. A crash can leave one behind; recovery may delete any
// file whose name ends with it.
const TempSuffix = ".tmp"

// WriteFileAtomic replaces the content of name with data so that, after a
// crash at any moment, name holds either its old content or data, never a
// mix: it writes name+TempSuffix in the same directory, syncs it, renames it
// over name and syncs the directory. When it returns nil, data is durable.
//
// Two concurrent calls for the same name share the temporary file and must
// not overlap.
func WriteFileAtomic(fsys FS, name string, data []byte) error {
	if err := ReplaceFile(fsys, name, data); err != nil {
		return err
	}
	if err := fsys.SyncDir(path.Dir(name)); err != nil {
		// The rename happened but may not be durable; say so.
		return fmt.Errorf("write %s atomically: rename done, directory sync: %w", name, err)
	}
	return nil
}

// ReplaceFile is WriteFileAtomic without the directory sync: name holds
// either its old content or data after a crash, and data is durable once
// the caller syncs name's directory (a caller that syncs it anyway, for a
// file of its own, saves one fsync).
func ReplaceFile(fsys FS, name string, data []byte) (err error) {
	tmp := name + TempSuffix
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s atomically: %w", name, err)
	}
	defer func() {
		if err != nil {
			// Best effort: the temporary file is garbage either way.
			_ = fsys.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s atomically: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s atomically: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s atomically: %w", name, err)
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return fmt.Errorf("write %s atomically: %w", name, err)
	}
	return nil
}
