package logstore

import (
	"fmt"
	"math"
	"strings"
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
	// It cannot change while the log is open.
	CacheBlockBytes int64

	// CleanupPolicyDelete is "delete" in cleanup.policy: DeleteRetainedSegments
	// applies retention.ms and retention.bytes. Default true.
	CleanupPolicyDelete bool
	// CleanupPolicyCompact is "compact" in cleanup.policy: PlanClean plans
	// compaction jobs, and max.compaction.lag.ms bounds the active segment's
	// age. Default false. At least one of the two policies must be set
	// ("compact,delete" sets both); SetCleanupPolicy parses Kafka's value.
	CleanupPolicyCompact bool
	// MinCleanableDirtyRatio is min.cleanable.dirty.ratio: PlanClean plans a
	// job only when the bytes of cleanable segments past the cleaner
	// checkpoint make up at least this share of all cleanable segments'
	// bytes. Default 0.5; in [0, 1].
	MinCleanableDirtyRatio float64
	// DeleteRetentionMs is delete.retention.ms: how long after its timestamp
	// a tombstone (a record with a null value) survives compaction, so
	// consumers that read the log in that time see the delete. Default 1 day.
	DeleteRetentionMs int64
	// MinCompactionLagMs is min.compaction.lag.ms: a segment whose largest
	// timestamp is younger than this is not cleaned (nor is any later one).
	// Default 0.
	MinCompactionLagMs int64
	// MaxCompactionLagMs is max.compaction.lag.ms: once the first batch of
	// the dirty part is this old, PlanClean plans a job whatever the dirty
	// ratio, and with the compact policy the active segment rolls at this
	// age if segment.ms is longer. Default math.MaxInt64 (never); at least 1.
	MaxCompactionLagMs int64
	// Preallocate is preallocate (log.preallocate): a segment's disk
	// blocks are reserved for the whole of segment.bytes on its first
	// append rather than a little ahead of the appends (prealloc.go; the
	// file's size stays what was appended, unlike Kafka's). Default false.
	Preallocate bool
}

// Defaults, as in Kafka.
const (
	DefaultSegmentBytes                      = 1 << 30
	DefaultSegmentMs                         = 7 * 24 * 60 * 60 * 1000
	DefaultIndexIntervalBytes                = 4096
	DefaultRetentionMs                       = 7 * 24 * 60 * 60 * 1000
	DefaultRecoveryPointCheckpointIntervalMs = 60_000
	DefaultCacheBlockBytes                   = 64 << 10
	DefaultMinCleanableDirtyRatio            = 0.5
	DefaultDeleteRetentionMs                 = 24 * 60 * 60 * 1000
)

// DefaultConfig returns Kafka's defaults (cleanup.policy=delete).
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
		CleanupPolicyDelete:               true,
		MinCleanableDirtyRatio:            DefaultMinCleanableDirtyRatio,
		DeleteRetentionMs:                 DefaultDeleteRetentionMs,
		MaxCompactionLagMs:                math.MaxInt64,
	}
}

// SetCleanupPolicy sets CleanupPolicyDelete and CleanupPolicyCompact from a
// Kafka cleanup.policy value: a comma-separated list of "delete" and
// "compact" ("compact,delete" for both). On error c is unchanged.
func (c *Config) SetCleanupPolicy(policy string) error {
	var deleteSegments, compact bool
	for item := range strings.SplitSeq(policy, ",") {
		switch strings.TrimSpace(item) {
		case "delete":
			deleteSegments = true
		case "compact":
			compact = true
		default:
			return fmt.Errorf("cleanup.policy %q: %q is neither delete nor compact", policy, strings.TrimSpace(item))
		}
	}
	c.CleanupPolicyDelete, c.CleanupPolicyCompact = deleteSegments, compact
	return nil
}

// activeSegmentMaxAgeMs is how old the active segment may get before an
// append rolls it: segment.ms, or max.compaction.lag.ms when compacting and
// shorter (as Kafka's LogConfig.maxSegmentMs), so dirty data becomes
// cleanable in time.
func (c *Config) activeSegmentMaxAgeMs() int64 {
	if c.CleanupPolicyCompact {
		return min(c.SegmentMs, c.MaxCompactionLagMs)
	}
	return c.SegmentMs
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
	case !c.CleanupPolicyDelete && !c.CleanupPolicyCompact:
		return c, fmt.Errorf("cleanup.policy must include delete or compact")
	case !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1): // NaN fails too
		return c, fmt.Errorf("min.cleanable.dirty.ratio %v out of range [0, 1]", c.MinCleanableDirtyRatio)
	case c.DeleteRetentionMs < 0 || c.MinCompactionLagMs < 0:
		return c, fmt.Errorf("delete.retention.ms %d and min.compaction.lag.ms %d must not be negative", c.DeleteRetentionMs, c.MinCompactionLagMs)
	case c.MaxCompactionLagMs < 1:
		return c, fmt.Errorf("max.compaction.lag.ms %d must be positive", c.MaxCompactionLagMs)
	}
	return c, nil
}

// SetConfig applies a new configuration to an open log (a topic config
// changed). It validates cfg as Open does; an invalid cfg, or one that changes
// CacheBlockBytes, returns an error and changes nothing. New values take
// effect from the next append, roll, Tick, retention pass or PlanClean;
// existing segments are not rewritten (a segment already larger than a new
// segment.bytes stays so). A CleanJob already planned keeps the settings it
// was planned with. Call it from the appender.
func (l *Log) SetConfig(cfg Config) error {
	c, err := cfg.withDefaults()
	if err != nil {
		return fmt.Errorf("set config of log %s: %w", l.dir, err)
	}
	if c.CacheBlockBytes != l.blockBytes {
		return fmt.Errorf("set config of log %s: cache block bytes cannot change from %d to %d while open", l.dir, l.blockBytes, c.CacheBlockBytes)
	}
	l.cfg = c
	return nil
}
