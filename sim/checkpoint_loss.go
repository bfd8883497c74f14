package sim

import (
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"gregor/logstore"
)

// checkpointDamages are what loseCheckpoints does to a recovery-point
// checkpoint: remove it (an operator's cleanup, a file never written), cut
// it short or fill it with bytes that are no checkpoint (a damaged disk).
// Either way the log finds no recovery point to trust and rescans every
// segment (logstore.Open), where compaction's gaps must not pass for lost
// tails.
var checkpointDamages = []string{"removed", "cut short", "garbled"}

// loseCheckpoints plays Profile.CheckpointLossShare after a power loss of
// n: each partition directory on n of a partition compaction cleaned
// somewhere loses its recovery-point checkpoint with that probability. It
// draws from its own stream, and only when the share is set, so that other
// profiles replay as before.
func (w *World) loseCheckpoints(n *node) {
	share := w.profile.CheckpointLossShare
	if share <= 0 {
		return
	}
	names, err := n.fs.ReadDir(dataDir)
	if err != nil {
		return
	}
	for _, name := range names {
		tp, ok := parsePartitionDir(name)
		if !ok || w.compaction[tp] == nil || !chance(w.rngCheckpointLoss, share) {
			continue
		}
		file := path.Join(dataDir, name, logstore.RecoveryPointCheckpointFile)
		if _, err := n.fs.Stat(file); err != nil {
			continue
		}
		damage := checkpointDamages[w.rngCheckpointLoss.IntN(len(checkpointDamages))]
		var content []byte
		switch damage {
		case "removed":
			err = n.fs.Remove(file)
			if err == nil {
				err = n.fs.SyncDir(path.Join(dataDir, name))
			}
		case "cut short":
			content = []byte("0\n")
		case "garbled":
			content = []byte{0x1f, 0x8b, 0, '\n', 0xff}
		}
		if content != nil {
			err = overwriteDurably(n, file, content)
		}
		if err != nil {
			w.timelinef("%s: the recovery-point checkpoint of %s-%d could not be %s: %v", n.name(), tp.topic, tp.partition, damage, err)
			continue
		}
		w.stats.CheckpointsLost++
		w.timelinef("fault: %s lost the recovery-point checkpoint of %s-%d (%s)", n.name(), tp.topic, tp.partition, damage)
	}
}

// overwriteDurably replaces file's content with p in place and syncs it.
func overwriteDurably(n *node, file string, p []byte) error {
	f, err := n.fs.OpenFile(file, os.O_RDWR|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(p)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// parsePartitionDir reads a partition directory's name, "<topic>-<partition>".
func parsePartitionDir(name string) (tpKey, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return tpKey{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return tpKey{}, false
	}
	return tpKey{topic: name[:i], partition: int32(p)}, true
}

// noteSyncedAtPowerLoss records, as n loses power, how far each of its open
// partition logs had synced its records (logstore's flushed offset).
func (n *node) noteSyncedAtPowerLoss() {
	for _, k := range n.keys {
		if h := n.replicas[k]; h != nil && h.log != nil {
			if synced := h.log.FlushedOffset(); synced > n.syncedAtPowerLoss[k] {
				n.syncedAtPowerLoss[k] = synced
			}
		}
	}
}

// checkRecoveredSynced is R1, on the first open of tp's log after a power
// loss of n: recovery keeps every batch the log had synced (logstore's
// promise, whatever its checkpoints say: a recovery that took a gap
// compaction left for a lost tail dropped whole synced segments). closed
// is the shadow of the log as the power loss found it; its batches that
// compaction dropped are no loss (a log whose end lay in a stretch
// compaction emptied ends lower after a crash, holding every record).
func (n *node) checkRecoveredSynced(tp tpKey, log *logstore.Log, closed *shadowLog) {
	synced, ok := n.syncedAtPowerLoss[tp]
	if !ok {
		return
	}
	delete(n.syncedAtPowerLoss, tp)
	end := log.LogEndOffset()
	if end >= synced || closed == nil {
		return
	}
	for _, b := range closed.batches {
		if b.last >= end && b.last < synced && !n.w.compaction[tp].wasDropped(b.id()) {
			n.w.violation("R1", fmt.Sprintf("%s %s: recovery after a power loss ends the log at %d, without the batch [%d, %d] of leader epoch %d it had synced (up to %d)",
				n.name(), tp, end, b.base, b.last, b.epoch, synced))
			return
		}
	}
}
