package cluster

import (
	"errors"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"

	"gregor/logstore"
)

// codecs returns the replica's codecs for record validation, made on first
// use: a replica that never leads a compressed produce pays nothing.
func (r *Replica) codecs() *logstore.Codecs {
	if r.recordCodecs == nil {
		r.recordCodecs = logstore.NewCodecs()
	}
	return r.recordCodecs
}

// recordRules are the topic's demands on each produced record at wall time
// nowMs: keys on a compacted topic, and with CreateTime, timestamps within
// message.timestamp.before.max.ms and message.timestamp.after.max.ms of
// nowMs.
func (r *Replica) recordRules(nowMs int64) logstore.RecordRules {
	rules := logstore.RecordRules{RequireKeys: r.cfg.Compacted}
	if r.cfg.TimestampType == CreateTime {
		rules.CheckTimestamps = true
		rules.MinTimestampMs = saturatingSub(nowMs, r.cfg.TimestampBeforeMaxMs)
		rules.MaxTimestampMs = saturatingAdd(nowMs, r.cfg.TimestampAfterMaxMs)
	}
	return rules
}

// recordsErrorCode is the Kafka error of a batch ValidateRecords refused.
func recordsErrorCode(err error) int16 {
	var ire *logstore.InvalidRecordsError
	if !errors.As(err, &ire) {
		return kerr.CorruptMessage.Code
	}
	switch ire.Kind {
	case logstore.CorruptRecords:
		return kerr.CorruptMessage.Code
	case logstore.InvalidTimestamps:
		return kerr.InvalidTimestamp.Code
	case logstore.TooLargeRecords:
		return kerr.MessageTooLarge.Code
	default:
		return kerr.InvalidRecord.Code
	}
}

// recordErrorsOf is the per-record refusals of err, for Produce v8+
// RecordErrors; nil for a structural error.
func recordErrorsOf(err error) []logstore.RecordError {
	var ire *logstore.InvalidRecordsError
	if errors.As(err, &ire) {
		return ire.Records
	}
	return nil
}

func saturatingSub(a, b int64) int64 {
	if b > 0 && a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

func saturatingAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
