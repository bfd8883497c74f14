package actors

import (
	"fmt"

	"gregor/logstore"
)

// takeShutdownMarker reads the shutdown marker the previous process left
// in the data directory (its broker epoch after a clean shutdown, nil after
// an unclean one) and takes it over as running on this boot
// (logstore.TakeBrokerShutdown): while this process has not registered,
// its data is what the last one left, so a crash on the same boot still
// loses nothing.
func (n *Node) takeShutdownMarker() error {
	var err error
	if n.previousBrokerEpoch, err = logstore.TakeBrokerShutdown(n.cfg.FS, n.cfg.DataDir, n.cfg.BootID); err != nil {
		return err
	}
	n.stoppingEpoch.Store(-1)
	if e := n.previousBrokerEpoch; e != nil {
		n.stoppingEpoch.Store(*e)
	}
	return nil
}

// markCleanShutdown leaves the broker's clean shutdown marker once a
// graceful stop closed every log (stopReplicas): the next process registers
// with this one's broker epoch (or the last one's, when this one never
// registered), so the controller knows it lost nothing it had (KIP-966). A
// node that failed, or had no epoch, leaves none.
func (n *Node) markCleanShutdown(graceful bool) error {
	epoch := n.stoppingEpoch.Load()
	select {
	case <-n.failed:
		return nil
	default:
	}
	if !graceful || epoch < 0 {
		return nil
	}
	if err := logstore.WriteBrokerCleanShutdown(n.cfg.FS, n.cfg.DataDir, epoch); err != nil {
		return fmt.Errorf("write the clean shutdown marker: %w", err)
	}
	return nil
}
