package actors

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"

	"gregor/groups"
)

// The group coordinator's load of its partition: when it starts, and again
// when its core reverted after a failed append.

// readPartition asks the partition for its records from loadOffset on.
func (a *groupCoordinator) readPartition() {
	a.reading = true
	self, root := a.self, a.g.n.system.Root
	root.Send(a.partitionPID, &fetchPartition{fetchOffset: a.loadOffset, maxBytes: loadReadBytes, currentLeaderEpoch: -1, toLogEnd: true,
		reply: func(res fetchPartitionResult) { root.Send(self, &groupLoadRead{res: res}) }})
}

// loadRead replays one read of the partition and reads on, until the log
// end offset (a read with no records): then the coordinator serves. The
// partition's new leader may not have advanced its high watermark to what
// its predecessor acknowledged yet; its log holds it, and so does the
// coordinator's state (Kafka's coordinators load to the log end too).
func (a *groupCoordinator) loadRead(res fetchPartitionResult) {
	a.reading = false
	next, step, err := loadStep(a.core, res, a.loadOffset)
	if err != nil {
		// The partition's log is unreadable: supervision restarts the
		// coordinator, which loads again.
		panic(fmt.Errorf("group coordinator %d: load: %w", a.partition, err))
	}
	a.loadOffset = next
	switch step {
	case loadReadMore:
		a.readPartition()
		return
	case loadRetry:
		a.logger.Warn("group coordinator load: partition read failed, retrying", zap.String("error", kerr.ErrorForCode(res.errorCode).Error()))
		a.retryLoad()
		return
	}
	a.refreshTopics()
	a.core.Loaded(a.now())
	a.logger.Info("group coordinator loaded", zap.Int("records", a.core.LoadedRecords()), zap.Int64("high_watermark", res.highWatermark), zap.Int64("loaded_to", a.loadOffset))
}

func (a *groupCoordinator) retryLoad() {
	a.ticks.retryAfter(loadRetryDelay, a.sendTick)
}

// reload replaces a core that reverted after a failed append (it answered
// every request it owed) with a new one loaded from the partition, as
// Kafka's coordinator reverts to its last committed state. The old core's
// appends not written yet are dropped; none is in flight, since a batch's
// failure is what made the core revert.
func (a *groupCoordinator) reload() {
	a.logger.Warn("group coordinator reloads its partition after a failed append", zap.Int("appends_dropped", len(a.queued)))
	a.queued, a.appending, a.merged, a.alone, a.parts = nil, nil, nil, 0, nil
	a.core = groups.NewCoordinator(a.g.cfg.coreConfig(a.g.n))
	a.loadOffset, a.topicsEpoch, a.rebalances = 0, -1, 0
	a.ticks.stop()
	a.readPartition()
}
