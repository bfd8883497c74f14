package sim

import (
	"errors"
	"fmt"
	"io/fs"
	"path"

	"gregor/cluster/quorum"
	"gregor/logstore/vfs"
)

// catchUpMarker is the file that says a voter started over from an empty
// metadata log and has not caught up yet (quorum.Config.CatchingUp): in
// the metadata log's directory, so that it goes with the log, as
// production's quorum actor keeps it (actors/quorum_start.go).
var catchUpMarker = path.Join(metadataLogDir, "catching-up")

// markCatchingUp writes the catch-up marker, durably, when the quorum core
// q says this voter catches up and the marker is not there yet (marked):
// a crash before it caught up must not make it vote by a log it lost
// (cluster/quorum/catch_up.go). A voter wiped with its data directory
// (data_wipe.go) restarts with an empty log, catching up; once its log
// holds the leader's entries, a restart no longer tells it apart from a
// voter that never lost anything, but for this marker.
func (n *node) markCatchingUp(q *quorum.Quorum, marked bool) error {
	if !q.CatchingUp() || marked {
		return nil
	}
	if err := vfs.WriteFileAtomic(n.fs, catchUpMarker, []byte("this voter started over from an empty metadata log and has not caught up yet\n")); err != nil {
		return fmt.Errorf("write %s: %w", catchUpMarker, err)
	}
	return nil
}

// caughtUp removes the catch-up marker once the quorum core says this
// voter caught up. A removal that fails leaves the marker: the next
// process catches up again, which is safe.
func (n *node) caughtUp() {
	err := n.fs.Remove(catchUpMarker)
	if err == nil {
		err = n.fs.SyncDir(metadataLogDir)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		n.w.tracef("%s: catch-up marker not removed: %v", n.name(), err)
	}
}
