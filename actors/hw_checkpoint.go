package actors

import (
	"maps"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"gregor/logstore"
	"gregor/logstore/vfs"
)

// defaultHighWatermarkCheckpointIntervalMs is Kafka's
// replica.high.watermark.checkpoint.interval.ms.
const defaultHighWatermarkCheckpointIntervalMs = 5000

// highWatermarkCheckpoint keeps the log directory's high watermark checkpoint
// (replication-offset-checkpoint): every partition actor publishes its high
// watermark in an atomic it registered here, and a goroutine writes them all
// every interval (when they changed) and once more when the node stops. No
// partition ever waits for it. At start it hands each partition the high
// watermark checkpointed for it.
type highWatermarkCheckpoint struct {
	fs       vfs.FS
	path     string
	interval time.Duration
	logger   *zap.Logger

	mu        sync.Mutex
	recovered map[logstore.TopicPartition]int64
	published map[logstore.TopicPartition]*atomic.Int64
	written   map[logstore.TopicPartition]int64 // what the file holds
	// shuttingDown keeps the entries of partitions stopped by the node's
	// shutdown, for the last write.
	shuttingDown atomic.Bool

	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
}

// startHighWatermarkCheckpoint reads the checkpoint of dir and starts the
// writer. A checkpoint that cannot be read is logged and ignored: the high
// watermark is then recovered from the leader's log.
func startHighWatermarkCheckpoint(fsys vfs.FS, dir string, intervalMs int64, logger *zap.Logger) *highWatermarkCheckpoint {
	if intervalMs <= 0 {
		intervalMs = defaultHighWatermarkCheckpointIntervalMs
	}
	h := &highWatermarkCheckpoint{fs: fsys, path: filepath.Join(dir, logstore.ReplicationOffsetCheckpointFile),
		interval: time.Duration(intervalMs) * time.Millisecond, logger: logger,
		published: map[logstore.TopicPartition]*atomic.Int64{}, stopCh: make(chan struct{}), done: make(chan struct{})}
	recovered, err := logstore.ReadOffsetCheckpointFile(fsys, h.path)
	if err != nil {
		logger.Warn("high watermark checkpoint ignored", zap.Error(err))
		recovered = map[logstore.TopicPartition]int64{}
	}
	h.recovered, h.written = recovered, maps.Clone(recovered)
	go h.run()
	return h
}

// register gives a starting partition the atomic to publish its high
// watermark in, and the high watermark to start from: the one it published
// before a restart, else the checkpointed one (0 when none).
func (h *highWatermarkCheckpoint) register(tp logstore.TopicPartition) (*atomic.Int64, int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if hw, ok := h.published[tp]; ok {
		return hw, hw.Load()
	}
	hw := &atomic.Int64{}
	hw.Store(h.recovered[tp])
	h.published[tp] = hw
	return hw, hw.Load()
}

// forget drops a partition stopped for good (its topic deleted, its log
// failed) from the checkpoint, unless the node is stopping.
func (h *highWatermarkCheckpoint) forget(tp logstore.TopicPartition, hw *atomic.Int64) {
	if h.shuttingDown.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.published[tp] == hw {
		delete(h.published, tp)
		delete(h.recovered, tp)
	}
}

// beginShutdown keeps every partition in the checkpoint while the node stops
// its partitions.
func (h *highWatermarkCheckpoint) beginShutdown() { h.shuttingDown.Store(true) }

// stop ends the writer after a last write.
func (h *highWatermarkCheckpoint) stop() {
	h.stopOnce.Do(func() {
		close(h.stopCh)
		<-h.done
	})
}

func (h *highWatermarkCheckpoint) run() {
	defer close(h.done)
	ticker := time.NewTicker(h.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			h.write()
		case <-h.stopCh:
			h.write()
			return
		}
	}
}

// write replaces the file with the published high watermarks, when they
// changed since the last write.
func (h *highWatermarkCheckpoint) write() {
	h.mu.Lock()
	offsets := make(map[logstore.TopicPartition]int64, len(h.published))
	for tp, hw := range h.published {
		offsets[tp] = hw.Load()
	}
	same := maps.Equal(offsets, h.written)
	h.mu.Unlock()
	if same {
		return
	}
	if err := logstore.WriteOffsetCheckpointFile(h.fs, h.path, offsets); err != nil {
		h.logger.Error("write high watermark checkpoint", zap.Error(err))
		return
	}
	h.mu.Lock()
	h.written = offsets
	h.mu.Unlock()
}
