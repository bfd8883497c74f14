package logstore

import (
	"fmt"
	"math"
)

// Config is the per-partition log configuration. Each field names the Kafka
// topic config it implements. Start from DefaultConfig and override: zero is
// a meaningful value for several Kafka settings, so zero fields are not
// defaulted (except RecoveryPointCheckpointIntervalMs and CacheBlockBytes).
type Config struct {
	// SegmentBytes is segment.bytes: the active segment rolls before an append
	// would grow it past this size. Default 1 GiB; at most math.MaxInt32 so
	// index positions fit in 32 bits.
	SegmentBytes int64
	// SegmentMs is segment.ms: the active segment rolls on the first append
	// this long after it was created. Default 7 days.
	SegmentMs int64
	// IndexIntervalBytes is index.interval.bytes: one offset-index and
	// time-index entry per this many appended bytes. Default 4096.
	IndexIntervalBytes int64
	// FlushMessages is flush.messages: an append that leaves this many
	// unflushed messages (offsets) triggers a Sync. Default math.MaxInt64
	// (never; rely on replication or group commit).
	FlushMessages int64
	// FlushMs is flush.ms: Tick syncs when the oldest unflushed data is this
	// old. Default math.MaxInt64 (never).
	FlushMs int64
	// RetentionMs is retention.ms: DeleteRetainedSegments removes non-active
	// segments whose largest timestamp is older than this. Default 7 days; -1
	// means unlimited.
	RetentionMs int64
	// RetentionBytes is retention.bytes: DeleteRetainedSegments removes the
	// oldest non-active segments while the log stays at least this large
	// without them. Default -1 (unlimited).
	RetentionBytes int64
	// RecoveryPointCheckpointIntervalMs is the broker's
	// log.flush.offset.checkpoint.interval.ms: how often Tick persists the
	// flushed offset as the recovery point. Default 60000.
	RecoveryPointCheckpointIntervalMs int64
	// CacheBlockBytes is the block size used with the BlockCache (no Kafka
	// equivalent). Default 64 KiB; a power of two between 4 KiB and 1 MiB.
	CacheBlockBytes int64
}

// Defaults, as in Kafka.
const (
	DefaultSegmentBytes                      = 1 << 30
	DefaultSegmentMs                         = 7 * 24 * 60 * 60 * 1000
	DefaultIndexIntervalBytes                = 4096
	DefaultRetentionMs                       = 7 * 24 * 60 * 60 * 1000
	DefaultRecoveryPointCheckpointIntervalMs = 60_000
	DefaultCacheBlockBytes                   = 64 << 10
)

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:                      DefaultSegmentBytes,
		SegmentMs:                         DefaultSegmentMs,
		IndexIntervalBytes:                DefaultIndexIntervalBytes,
		FlushMessages:                     math.MaxInt64,
		FlushMs:                           math.MaxInt64,
		RetentionMs:                       DefaultRetentionMs,
		RetentionBytes:                    -1,
		RecoveryPointCheckpointIntervalMs: DefaultRecoveryPointCheckpointIntervalMs,
		CacheBlockBytes:                   DefaultCacheBlockBytes,
	}
}

// withDefaults fills the fields that have no meaningful zero (the checkpoint
// interval and the cache block size) and checks ranges. Every Kafka setting
// must be set: start from DefaultConfig.
func (c Config) withDefaults() (Config, error) {
	if c.RecoveryPointCheckpointIntervalMs == 0 {
		c.RecoveryPointCheckpointIntervalMs = DefaultRecoveryPointCheckpointIntervalMs
	}
	if c.CacheBlockBytes == 0 {
		c.CacheBlockBytes = DefaultCacheBlockBytes
	}
	switch {
	case c.SegmentBytes < BatchHeaderBytes || c.SegmentBytes > math.MaxInt32:
		return c, fmt.Errorf("segment.bytes %d out of range [%d, %d]", c.SegmentBytes, BatchHeaderBytes, math.MaxInt32)
	case c.SegmentMs < 1:
		return c, fmt.Errorf("segment.ms %d must be positive", c.SegmentMs)
	case c.IndexIntervalBytes < 0:
		return c, fmt.Errorf("index.interval.bytes %d must not be negative", c.IndexIntervalBytes)
	case c.FlushMessages < 1 || c.FlushMs < 0:
		return c, fmt.Errorf("flush.messages %d must be positive and flush.ms %d not negative", c.FlushMessages, c.FlushMs)
	case c.RetentionMs < -1 || c.RetentionBytes < -1:
		return c, fmt.Errorf("retention.ms %d and retention.bytes %d must be -1 or more", c.RetentionMs, c.RetentionBytes)
	case c.CacheBlockBytes < 4<<10 || c.CacheBlockBytes > 1<<20 || c.CacheBlockBytes&(c.CacheBlockBytes-1) != 0:
		return c, fmt.Errorf("cache block bytes %d must be a power of two in [4 KiB, 1 MiB]", c.CacheBlockBytes)
	}
	return c, nil
}
