package logstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"gregor/logstore/vfs"
)

// BrokerShutdownFile is the broker's shutdown marker in its data directory
// (Kafka's clean shutdown file, CleanShutdownFileHandler, with its
// content): it holds the broker epoch of the process that wrote it. A node
// that stopped cleanly, every log of it closed, writes it; the next process
// consumes it at start and registers with that epoch as its previous one.
// A node that crashed or lost power leaves none, so its registration says
// it stopped uncleanly (KIP-966: it may have lost records it acknowledged,
// and is no longer eligible to lead).
//
// gregor's own addition: a running process writes the marker as soon as
// it registered, with the boot id of the machine (WriteBrokerRunning). A
// process that then crashes without the machine rebooting (kill -9) lost
// nothing its logs had written, since the page cache survives it; the next
// process on the same boot reads that marker as a clean one. A power loss
// reboots the machine, and the marker of another boot counts for nothing.
const BrokerShutdownFile = cleanShutdownFile

// brokerShutdownMarker is the marker's content.
type brokerShutdownMarker struct {
	Version     int   `json:"version"`
	BrokerEpoch int64 `json:"brokerEpoch"`
	// BootID is set by a running process (WriteBrokerRunning): the marker
	// counts only on the same boot.
	BootID string `json:"bootId,omitempty"`
}

// WriteBrokerCleanShutdown durably writes the shutdown marker of a data
// directory at a clean shutdown, with the broker epoch the stopping process
// registered.
func WriteBrokerCleanShutdown(fsys vfs.FS, dir string, brokerEpoch int64) error {
	return writeBrokerShutdownMarker(fsys, dir, brokerShutdownMarker{BrokerEpoch: brokerEpoch})
}

// WriteBrokerRunning durably writes the shutdown marker of a data directory
// for a running process that registered with brokerEpoch, on the boot
// bootID of its machine; without a boot id it writes none.
func WriteBrokerRunning(fsys vfs.FS, dir string, brokerEpoch int64, bootID string) error {
	if bootID == "" {
		return nil
	}
	return writeBrokerShutdownMarker(fsys, dir, brokerShutdownMarker{BrokerEpoch: brokerEpoch, BootID: bootID})
}

func writeBrokerShutdownMarker(fsys vfs.FS, dir string, m brokerShutdownMarker) error {
	p, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return vfs.WriteFileAtomic(fsys, path.Join(dir, BrokerShutdownFile), p)
}

// TakeBrokerShutdown reads a starting process's data directory's shutdown
// marker and takes it over: the broker epoch of a clean shutdown, or of a
// crash on the boot bootID ("": unknown, no crash counts), else nil (no
// marker, one of another boot, or one whose content does not parse: an
// unclean shutdown is the safe reading). A marker the disk fails to read
// (an I/O error, not its content) is an error and stays as it is: the
// next start, once the disk reads again, still finds a clean shutdown
// clean.
//
// Until the new process registers, its data is what the last one left, so
// a valid marker is replaced in one atomic step by the running marker of
// this boot (WriteBrokerRunning): a crash of the starting process on the
// same boot still counts as clean, and a replacement that fails (a disk
// error) leaves the old marker as it was, so a start that fails on its
// disk does not make the next one unclean. Any other marker is removed, the
// removal durable before it returns, so a crash never leaves it behind.
// err is a replacement or removal that failed.
func TakeBrokerShutdown(fsys vfs.FS, dir, bootID string) (*int64, error) {
	name := path.Join(dir, BrokerShutdownFile)
	p, err := ReadWholeFile(fsys, name, 1<<10)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil && !errors.Is(err, ErrCorruption) {
		return nil, fmt.Errorf("read the shutdown marker %s: %w", name, err)
	}
	var m brokerShutdownMarker
	valid := err == nil && json.Unmarshal(p, &m) == nil && m.Version == 0 && m.BrokerEpoch >= 0 &&
		(m.BootID == "" || m.BootID == bootID)
	if valid && bootID != "" {
		if err := WriteBrokerRunning(fsys, dir, m.BrokerEpoch, bootID); err != nil {
			return nil, fmt.Errorf("replace the shutdown marker %s by this process's: %w", name, err)
		}
		return &m.BrokerEpoch, nil
	}
	if err := fsys.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove the shutdown marker %s: %w", name, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("sync %s after removing its shutdown marker: %w", dir, err)
	}
	if !valid {
		return nil, nil
	}
	return &m.BrokerEpoch, nil
}
