package cluster

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"gregor/logstore/internaltopic"
)

// MaxTopicNameLength is Kafka's limit on a topic name.
const MaxTopicNameLength = 249

// IsInternalTopic says whether a topic is one of the broker's own records,
// as Kafka marks them: the consumer offsets and the transaction state.
// Clients read them; only their coordinators write to them.
func IsInternalTopic(name string) bool {
	return internaltopic.IsInternal(name)
}

// ValidateTopicName applies Kafka's topic name rules: 1 to 249 characters of
// [a-zA-Z0-9._-], and neither "." nor "..".
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("topic name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("topic name cannot be %q", name)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("topic name %q is %d characters, the limit is %d", name, len(name), MaxTopicNameLength)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q contains %q; legal characters are ASCII letters, digits, '.', '_' and '-'", name, c)
		}
	}
	return nil
}

// ConfigType is a config's type as DescribeConfigs v3+ reports it.
type ConfigType int8

// Kafka's config types (DescribeConfigs ConfigType).
const (
	ConfigBoolean ConfigType = 1
	ConfigString  ConfigType = 2
	ConfigInt     ConfigType = 3
	ConfigShort   ConfigType = 4
	ConfigLong    ConfigType = 5
	ConfigDouble  ConfigType = 6
	ConfigList    ConfigType = 7
)

// TopicConfigSpec describes one topic config: Kafka's name, type, default and
// valid values.
type TopicConfigSpec struct {
	Name    string
	Type    ConfigType
	Default string
	// BrokerKey is the server.properties key that sets the broker-wide
	// default, "" if none.
	BrokerKey string
	Doc       string
	validate  func(string) error
}

func longAtLeast(lo int64) func(string) error {
	return func(v string) error {
		x, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		if x < lo {
			return fmt.Errorf("%d is below the minimum %d", x, lo)
		}
		return nil
	}
}

func intBetween(lo, hi int64) func(string) error {
	return func(v string) error {
		x, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
		if err != nil {
			return fmt.Errorf("%q is not a 32-bit whole number", v)
		}
		if x < lo || x > hi {
			return fmt.Errorf("%d is outside [%d, %d]", x, lo, hi)
		}
		return nil
	}
}

// gzipLevel is compression.gzip.level's check, as Kafka's: 1 to 9, or -1
// (the codec's default).
func gzipLevel(v string) error {
	if strings.TrimSpace(v) == "-1" {
		return nil
	}
	if err := intBetween(1, 9)(v); err != nil {
		return fmt.Errorf("%w, and not -1", err)
	}
	return nil
}

func oneOf(values ...string) func(string) error {
	return func(v string) error {
		for _, ok := range values {
			if v == ok {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(values, ", "))
	}
}

func listOf(values ...string) func(string) error {
	return func(v string) error {
		parts := strings.Split(v, ",")
		for _, p := range parts {
			if err := oneOf(values...)(strings.TrimSpace(p)); err != nil {
				return err
			}
		}
		return nil
	}
}

func boolean(v string) error {
	if v != "true" && v != "false" {
		return fmt.Errorf("%q is not true or false", v)
	}
	return nil
}

func ratio(v string) error {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || x < 0 || x > 1 {
		return fmt.Errorf("%q is not a number in [0, 1]", v)
	}
	return nil
}

var maxLong = strconv.FormatInt(math.MaxInt64, 10)

// topicConfigSpecs are the topic configs this broker knows, with Kafka 4's
// defaults. segment.bytes accepts down to 1 KiB (Kafka: 1 MiB) so tests can
// roll small segments.
var topicConfigSpecs = []TopicConfigSpec{
	{Name: "cleanup.policy", Type: ConfigList, Default: "delete", BrokerKey: "log.cleanup.policy", validate: listOf("delete", "compact"), Doc: "delete or compact old segments, or both"},
	{Name: "compression.gzip.level", Type: ConfigInt, Default: "-1", BrokerKey: "compression.gzip.level", validate: gzipLevel, Doc: "gzip level (1 fastest to 9 smallest, -1 the codec's default) of batches the broker stores with compression.type gzip"},
	{Name: "compression.lz4.level", Type: ConfigInt, Default: "9", BrokerKey: "compression.lz4.level", validate: intBetween(1, 17), Doc: "lz4 level (1 to 17; 9, the default, is lz4's fast compressor, the others its high-compression one at that level, 10 to 17 as 9) of batches the broker stores with compression.type lz4"},
	{Name: "compression.type", Type: ConfigString, Default: "producer", BrokerKey: "compression.type", validate: oneOf("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), Doc: "codec the broker stores batches in; producer keeps the producer's"},
	{Name: "compression.zstd.level", Type: ConfigInt, Default: "3", BrokerKey: "compression.zstd.level", validate: intBetween(-131072, 22), Doc: "zstd level (-131072 to 22, 3 the default) of batches the broker stores with compression.type zstd; the encoder has four speeds: below 3, 3 to 5, 6 to 9, and 10 up"},
	{Name: "delete.retention.ms", Type: ConfigLong, Default: "86400000", BrokerKey: "log.cleaner.delete.retention.ms", validate: longAtLeast(0), Doc: "how long a compacted topic keeps delete markers (tombstones) before the cleaner may drop them"},
	{Name: "file.delete.delay.ms", Type: ConfigLong, Default: "60000", BrokerKey: "log.segment.delete.delay.ms", validate: longAtLeast(0), Doc: "delay between removing a segment from the log and deleting its files"},
	{Name: "flush.messages", Type: ConfigLong, Default: maxLong, BrokerKey: "log.flush.interval.messages", validate: longAtLeast(1), Doc: "records appended between forced syncs of the log to disk"},
	{Name: "flush.ms", Type: ConfigLong, Default: maxLong, BrokerKey: "log.flush.interval.ms", validate: longAtLeast(0), Doc: "longest time an appended record waits before the log is synced to disk"},
	{Name: "index.interval.bytes", Type: ConfigInt, Default: "4096", BrokerKey: "log.index.interval.bytes", validate: intBetween(0, math.MaxInt32), Doc: "bytes of records between two entries of the offset index"},
	{Name: "max.compaction.lag.ms", Type: ConfigLong, Default: maxLong, BrokerKey: "log.cleaner.max.compaction.lag.ms", validate: longAtLeast(1), Doc: "longest time a record can stay uncompacted in a compacted topic"},
	{Name: "max.message.bytes", Type: ConfigInt, Default: "1048588", BrokerKey: "message.max.bytes", validate: intBetween(0, math.MaxInt32), Doc: "largest record batch accepted, in bytes"},
	{Name: "message.timestamp.after.max.ms", Type: ConfigLong, Default: "3600000", BrokerKey: "log.message.timestamp.after.max.ms", validate: longAtLeast(0), Doc: "how far a batch's timestamp may be ahead of the broker's clock (CreateTime)"},
	{Name: "message.timestamp.before.max.ms", Type: ConfigLong, Default: maxLong, BrokerKey: "log.message.timestamp.before.max.ms", validate: longAtLeast(0), Doc: "how far a batch's timestamp may be behind the broker's clock (CreateTime)"},
	{Name: "message.timestamp.type", Type: ConfigString, Default: "CreateTime", BrokerKey: "log.message.timestamp.type", validate: oneOf("CreateTime", "LogAppendTime"), Doc: "CreateTime keeps the producer's timestamps; LogAppendTime stamps records with the broker's time"},
	{Name: "min.cleanable.dirty.ratio", Type: ConfigDouble, Default: "0.5", BrokerKey: "log.cleaner.min.cleanable.ratio", validate: ratio, Doc: "share of a compacted log not yet cleaned above which the cleaner compacts it"},
	{Name: "min.compaction.lag.ms", Type: ConfigLong, Default: "0", BrokerKey: "log.cleaner.min.compaction.lag.ms", validate: longAtLeast(0), Doc: "shortest time a record stays uncompacted"},
	{Name: "min.insync.replicas", Type: ConfigInt, Default: "1", BrokerKey: "min.insync.replicas", validate: intBetween(1, math.MaxInt32), Doc: "in-sync replicas an acks=all write needs, else NOT_ENOUGH_REPLICAS"},
	{Name: "preallocate", Type: ConfigBoolean, Default: "false", BrokerKey: "log.preallocate", validate: boolean, Doc: "allocate a new segment's whole size on disk when it is created"},
	{Name: "retention.bytes", Type: ConfigLong, Default: "-1", BrokerKey: "log.retention.bytes", validate: longAtLeast(-1), Doc: "size a partition's log is kept under by deleting its oldest segments; -1 for no limit"},
	{Name: "retention.ms", Type: ConfigLong, Default: "604800000", BrokerKey: "log.retention.ms", validate: longAtLeast(-1), Doc: "age after which old segments are deleted; -1 for no limit"},
	{Name: "segment.bytes", Type: ConfigInt, Default: "1073741824", BrokerKey: "log.segment.bytes", validate: intBetween(1024, math.MaxInt32), Doc: "size at which the active segment is rolled"},
	{Name: "segment.index.bytes", Type: ConfigInt, Default: "10485760", BrokerKey: "log.index.size.max.bytes", validate: intBetween(4, math.MaxInt32), Doc: "largest size of a segment's offset and time indexes"},
	{Name: "segment.jitter.ms", Type: ConfigLong, Default: "0", BrokerKey: "log.roll.jitter.ms", validate: longAtLeast(0), Doc: "random time taken off segment.ms per segment so segments do not roll together"},
	{Name: "segment.ms", Type: ConfigLong, Default: "604800000", BrokerKey: "log.roll.ms", validate: longAtLeast(1), Doc: "age at which the active segment is rolled, even if not full"},
	{Name: "unclean.leader.election.enable", Type: ConfigBoolean, Default: "false", BrokerKey: "unclean.leader.election.enable", validate: boolean, Doc: "let a replica outside the ISR become leader when no in-sync one is left, losing records"},
}

// TopicConfigSpecs lists every known topic config, sorted by name.
func TopicConfigSpecs() []TopicConfigSpec {
	out := append([]TopicConfigSpec(nil), topicConfigSpecs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupTopicConfig returns the spec of a topic config.
func LookupTopicConfig(name string) (TopicConfigSpec, bool) {
	for _, s := range topicConfigSpecs {
		if s.Name == name {
			return s, true
		}
	}
	return TopicConfigSpec{}, false
}

// TopicConfigDefault is Kafka's default of a topic config.
func TopicConfigDefault(name string) (string, bool) {
	s, ok := LookupTopicConfig(name)
	return s.Default, ok
}

// ValidateTopicConfig checks a value for a topic config; an unknown name is
// an error, as in Kafka.
func ValidateTopicConfig(name, value string) error {
	s, ok := LookupTopicConfig(name)
	if why := unservedConfig(name); !ok && why != "" {
		return errors.New(why)
	}
	if !ok {
		return fmt.Errorf("unknown topic config %q", name)
	}
	if err := s.validate(value); err != nil {
		return fmt.Errorf("invalid value for %s: %v", name, err)
	}
	return nil
}

// replicationThrottleKeys are Kafka's replication throttle configs, of
// brokers (the rates) and of topics (the throttled replicas), which
// kafka-reassign-partitions --throttle sets. gregor does not throttle
// replication.
var replicationThrottleKeys = map[string]bool{
	"leader.replication.throttled.rate": true, "follower.replication.throttled.rate": true,
	"replica.alter.log.dirs.io.max.bytes.per.second": true,
	"leader.replication.throttled.replicas":          true, "follower.replication.throttled.replicas": true,
}

// unservedConfig says why a config Kafka has is refused here, or "" when
// gregor has nothing particular to say of it.
func unservedConfig(name string) string {
	if replicationThrottleKeys[name] {
		return fmt.Sprintf("%s cannot be set: gregor does not throttle replication yet "+
			"(kafka-reassign-partitions sets it for --throttle: leave --throttle out)", name)
	}
	return ""
}
