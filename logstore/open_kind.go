package logstore

import (
	"errors"
	"io/fs"
	"path"

	"gregor/logstore/vfs"
)

// NeedsRecovery says whether opening the log in dir may rescan it: the
// directory exists and holds no clean shutdown marker, so the log was not
// closed cleanly (or was never closed). A new log (no directory yet) and a
// log closed cleanly open without rescanning any segment: Kafka bounds the
// first kind's opens by its recovery threads, never the others'. It looks
// at two names only, without listing the directory; a stat that fails
// otherwise than by a missing name counts as needing recovery, the safe
// reading for a bound.
func NeedsRecovery(fsys vfs.FS, dir string) bool {
	if _, err := fsys.Stat(dir); err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	_, err := fsys.Stat(path.Join(dir, cleanShutdownFile))
	return err != nil
}
