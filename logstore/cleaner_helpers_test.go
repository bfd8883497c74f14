package logstore

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"gregor/logstore/vfs"
)

// cleanerConfig is smallConfig with cleanup.policy=compact, no retention and
// delete.retention.ms of one second.
func cleanerConfig() Config {
	c := smallConfig()
	c.CleanupPolicyDelete, c.CleanupPolicyCompact = false, true
	c.RetentionMs = -1
	c.DeleteRetentionMs = 1000
	return c
}

// keyedRecord is one record for appendKeyed; an empty key means none.
type keyedRecord struct {
	key, value string
	tombstone  bool
}

// appendKeyed appends the records as one batch (producer id -1) with
// timestamp tsMs and returns them as a consumer reads them.
func appendKeyed(t testingT, l *Log, tsMs int64, recs ...keyedRecord) []consumedRecord {
	t.Helper()
	raw, out := keyedBatch(t, -1, tsMs, recs...)
	res, err := l.Append([][]byte{raw}, 7, tsMs)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	for i := range out {
		out[i].Offset += res.BaseOffsets[0]
	}
	return out
}

// keyedBatch encodes recs as a batch at base offset 0 and returns it with the
// records it holds.
func keyedBatch(t testingT, producerID int64, tsMs int64, recs ...keyedRecord) ([]byte, []consumedRecord) {
	t.Helper()
	tb := compactTestBatch{LastOffsetDelta: -1, ProducerID: producerID, ProducerEpoch: -1, BaseSequence: -1}
	if producerID >= 0 {
		tb.ProducerEpoch, tb.BaseSequence = 0, 0
	}
	var out []consumedRecord
	for i, r := range recs {
		value := r.value
		if r.tombstone {
			value = "<tombstone>"
		}
		tb.Records = append(tb.Records, kv(int32(i), tsMs, r.key, value))
		c := consumedRecord{Offset: int64(i), TimestampMs: tsMs, Key: []byte(r.key), Value: []byte(r.value)}
		if r.key == "" {
			c.Key = nil
		}
		if r.tombstone {
			c.Value = nil
		}
		out = append(out, c)
	}
	return buildCompactTestBatch(t, tb), out
}

// readAllRecords reads the whole log and decodes it as franz-go does.
func readAllRecords(t testingT, l *Log) []consumedRecord {
	t.Helper()
	return recordsFrom(t, l, l.LogStartOffset())
}

// recordsFrom reads from offset to the end, one batch at a time as a
// consumer does, and returns the records at or past offset. Each read must
// return the batch holding the offset asked for, or the next one; nothing
// means no batch is left (compaction removed the last ones).
func recordsFrom(t testingT, l *Log, offset int64) []consumedRecord {
	t.Helper()
	var raw []byte
	end := l.LogEndOffset()
	for next := offset; next < end; {
		recs, err := l.Read(next, 1, end)
		if err != nil {
			t.Fatalf("read at %d: %v", next, err)
		}
		p, err := recs.Bytes()
		recs.Release()
		if err != nil {
			t.Fatalf("read at %d (end %d): %v", next, end, err)
		}
		if len(p) == 0 {
			break
		}
		if b, err := ParseBatch(p); err != nil || b.LastOffset() < next {
			t.Fatalf("read at %d returned batch ending at %d: %v", next, b.LastOffset(), err)
		}
		raw = append(raw, p...)
		next = recs.NextOffset
	}
	var out []consumedRecord
	for _, r := range consumeLikeFranzGo(t, raw) {
		if r.Offset >= offset {
			out = append(out, r)
		}
	}
	return out
}

// cleanOnce plans, runs and commits one pass; ok is false when PlanClean
// declined.
func cleanOnce(t testingT, l *Log, nowMs int64, opts CleanerOptions) (CleanStats, bool) {
	t.Helper()
	j, ok := l.PlanClean(nowMs, l.LogEndOffset())
	if !ok {
		return CleanStats{}, false
	}
	if err := j.Run(context.Background(), opts); err != nil {
		t.Fatalf("run clean job: %v", err)
	}
	if err := l.CommitClean(j); err != nil {
		t.Fatalf("commit clean job: %v", err)
	}
	return j.Stats(), true
}

// expectedAfterClean is what a pass that earns cleanedUpTo leaves of recs:
// past it everything, below it each key's latest record unless it is a
// tombstone at least deleteRetentionMs old at nowMs.
func expectedAfterClean(recs []consumedRecord, cleanedUpTo, nowMs, deleteRetentionMs int64) []consumedRecord {
	latest := make(map[string]int64)
	for _, r := range recs {
		if r.Key != nil && r.Offset < cleanedUpTo {
			latest[string(r.Key)] = r.Offset
		}
	}
	var out []consumedRecord
	for _, r := range recs {
		switch {
		case r.Offset >= cleanedUpTo:
		case r.Key == nil || latest[string(r.Key)] != r.Offset:
			continue
		case r.Value == nil && nowMs >= r.TimestampMs+deleteRetentionMs:
			continue
		}
		out = append(out, r)
	}
	return out
}

// latestValues is what a consumer reading recs from the start ends up with:
// each key's last value, deleted keys absent.
func latestValues(recs []consumedRecord) map[string]string {
	view := make(map[string]string)
	for _, r := range recs {
		if r.Key == nil {
			continue
		}
		if r.Value == nil {
			delete(view, string(r.Key))
		} else {
			view[string(r.Key)] = string(r.Value)
		}
	}
	return view
}

// describeRecords renders records for failure messages.
func describeRecords(recs []consumedRecord) string {
	var b strings.Builder
	for _, r := range recs {
		v := string(r.Value)
		if r.Value == nil {
			v = "∅"
		}
		fmt.Fprintf(&b, "%d:%s=%s ", r.Offset, r.Key, v)
	}
	return b.String()
}

// sameRecords compares offsets, keys, values (nil apart from empty) and
// timestamps.
func sameRecords(a, b []consumedRecord) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Offset != b[i].Offset || !sameNullableBytes(a[i].Key, b[i].Key) ||
			!sameNullableBytes(a[i].Value, b[i].Value) || a[i].TimestampMs != b[i].TimestampMs {
			return false
		}
	}
	return true
}

// isSubsequence says whether every record of sub is in recs (same offset,
// key and value), both in offset order.
func isSubsequence(sub, recs []consumedRecord) bool {
	i := 0
	for _, r := range sub {
		for i < len(recs) && recs[i].Offset < r.Offset {
			i++
		}
		if i == len(recs) || !sameRecords([]consumedRecord{r}, recs[i:i+1]) {
			return false
		}
	}
	return true
}

// leftoverCleanerFiles lists .cleaned and .swap files in dir.
func leftoverCleanerFiles(t testingT, fsys vfs.FS, dir string) []string {
	t.Helper()
	names, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, cleanedFileExt) || strings.HasSuffix(n, swapFileExt) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// checkUniqueKeysBelow fails if a key appears twice below offset.
func checkUniqueKeysBelow(t testingT, recs []consumedRecord, offset int64) {
	t.Helper()
	seen := make(map[string]int64)
	for _, r := range recs {
		if r.Offset >= offset || r.Key == nil {
			continue
		}
		if prev, ok := seen[string(r.Key)]; ok {
			t.Fatalf("key %q at %d and %d, both below the cleaner checkpoint %d", r.Key, prev, r.Offset, offset)
		}
		seen[string(r.Key)] = r.Offset
	}
}
