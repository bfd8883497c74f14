package logstore

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"pgregory.net/rapid"

	"gregor/logstore/vfs"
)

// modelBatch is one stored batch in the naive model.
type modelBatch struct {
	raw       []byte
	base      int64
	last      int64
	timestamp []int64 // per record
}

// logModel is the naive model of a Log: a slice of batches and a log start.
type logModel struct {
	batches  []modelBatch
	logStart int64
	logEnd   int64
}

func (m *logModel) truncate(offset int64) {
	if offset >= m.logEnd {
		return
	}
	if offset <= m.logStart {
		m.batches, m.logStart, m.logEnd = nil, offset, offset
		return
	}
	m.logEnd = offset
	for i, b := range m.batches {
		if b.last >= offset {
			m.batches = m.batches[:i]
			m.logEnd = b.base
			break
		}
	}
	m.logStart = min(m.logStart, m.logEnd)
}

func (m *logModel) advanceStart(offset int64) {
	m.logStart = max(m.logStart, offset)
}

// visible are the batches a reader may still see (ending at or after the log
// start offset).
func (m *logModel) visible() []modelBatch {
	var out []modelBatch
	for _, b := range m.batches {
		if b.last >= m.logStart {
			out = append(out, b)
		}
	}
	return out
}

func (m *logModel) offsetForTimestamp(target int64) (TimestampOffset, bool) {
	for _, b := range m.batches {
		for i, ts := range b.timestamp {
			if o := b.base + int64(i); o >= m.logStart && ts >= target {
				return TimestampOffset{Offset: o, TimestampMs: ts}, true
			}
		}
	}
	return TimestampOffset{}, false
}

// genBatch draws a batch of 1..4 records with arbitrary timestamps.
func genBatch(t *rapid.T) ([]byte, []int64) {
	n := rapid.IntRange(1, 4).Draw(t, "records")
	recs := make([]recordSpec, n)
	ts := make([]int64, n)
	for i := range recs {
		ts[i] = rapid.Int64Range(0, 1000).Draw(t, "ts")
		recs[i] = recordSpec{timestampMs: ts[i], value: bytes.Repeat([]byte{byte(i)}, rapid.IntRange(0, 300).Draw(t, "value"))}
	}
	codec := rapid.SampledFrom([]int8{0, 0, 0, 2, 4}).Draw(t, "codec")
	return makeBatch(t, codec, recs), ts
}

// TestLogMatchesModel runs random appends, truncations, retention, log start
// advances, reopens and reads, and compares every result with logModel.
func TestLogMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		cfg := DefaultConfig()
		cfg.SegmentBytes = rapid.Int64Range(1400, 5000).Draw(t, "segmentBytes")
		cfg.IndexIntervalBytes = rapid.Int64Range(0, 1000).Draw(t, "indexIntervalBytes")
		cfg.CacheBlockBytes = 4096
		cfg.RetentionMs = -1
		var cache BlockCache
		if rapid.Bool().Draw(t, "cache") {
			cache = newMapCache()
		}
		mem := vfs.NewMem()
		l := openTestLog(t, mem, "/p", cfg, cache, 0)
		defer func() { _ = l.Close() }()
		m := &logModel{}
		for step := range rapid.IntRange(1, 60).Draw(t, "steps") {
			switch op := rapid.IntRange(0, 9).Draw(t, "op"); op {
			case 0, 1, 2, 3:
				raw, ts := genBatch(t)
				res, err := l.Append([][]byte{raw}, 1, 0)
				if err != nil {
					t.Fatalf("step %d append: %v", step, err)
				}
				b := modelBatch{raw: raw, base: m.logEnd, last: m.logEnd + int64(len(ts)) - 1, timestamp: ts}
				if res.BaseOffsets[0] != b.base {
					t.Fatalf("base offset %d, model %d", res.BaseOffsets[0], b.base)
				}
				m.batches = append(m.batches, b)
				m.logEnd = b.last + 1
			case 4:
				offset := rapid.Int64Range(0, m.logEnd+2).Draw(t, "truncate")
				if err := l.Truncate(offset, 0); err != nil {
					t.Fatalf("truncate %d: %v", offset, err)
				}
				m.truncate(offset)
			case 5:
				offset := rapid.Int64Range(m.logStart, m.logEnd).Draw(t, "advance")
				if err := l.AdvanceLogStartOffset(offset); err != nil {
					t.Fatalf("advance to %d: %v", offset, err)
				}
				m.advanceStart(offset)
			case 6:
				cfgBytes := rapid.Int64Range(0, 5000).Draw(t, "retentionBytes")
				l.cfg.RetentionBytes = cfgBytes
				if _, err := l.DeleteRetainedSegments(0, allCommitted); err != nil {
					t.Fatalf("retention: %v", err)
				}
				l.cfg.RetentionBytes = -1
				checkRetention(t, l, m, cfgBytes)
			case 7:
				if rapid.Bool().Draw(t, "clean") {
					if err := l.Close(); err != nil {
						t.Fatalf("close: %v", err)
					}
				} else if err := l.Sync(); err != nil {
					t.Fatalf("sync: %v", err)
				}
				l = openTestLog(t, mem, "/p", cfg, cache, 0)
			case 8:
				target := rapid.Int64Range(-1, 1001).Draw(t, "timestamp")
				got, found, err := l.OffsetForTimestamp(target)
				want, wantFound := m.offsetForTimestamp(target)
				if err != nil || found != wantFound || got != want {
					t.Fatalf("offset for timestamp %d: got %+v %v %v, model %+v %v", target, got, found, err, want, wantFound)
				}
			case 9:
				checkRandomRead(t, l, m)
			}
			checkOffsets(t, l, m)
		}
		checkAll(t, l, m)
	})
}

func checkOffsets(t *rapid.T, l *Log, m *logModel) {
	if l.LogStartOffset() != m.logStart || l.LogEndOffset() != m.logEnd {
		t.Fatalf("log %d..%d, model %d..%d", l.LogStartOffset(), l.LogEndOffset(), m.logStart, m.logEnd)
	}
}

// checkRetention checks that retention kept the model's invariants, and moves
// the model's log start to where retention put it.
func checkRetention(t *rapid.T, l *Log, m *logModel, retentionBytes int64) {
	start := l.LogStartOffset()
	if start < m.logStart {
		t.Fatalf("retention moved the log start back from %d to %d", m.logStart, start)
	}
	segs := l.Segments()
	if start > m.logStart && start != segs[0].BaseOffset {
		t.Fatalf("log start %d is not the first segment's base %d", start, segs[0].BaseOffset)
	}
	if len(segs) > 1 && l.SizeBytes()-segs[0].SizeBytes >= retentionBytes && segs[0].NextOffset > start {
		t.Fatalf("retention.bytes %d left a deletable first segment (log %d bytes)", retentionBytes, l.SizeBytes())
	}
	m.advanceStart(start)
}

func checkRandomRead(t *rapid.T, l *Log, m *logModel) {
	offset := rapid.Int64Range(m.logStart, m.logEnd).Draw(t, "readOffset")
	maxBytes := rapid.Int64Range(1, 3000).Draw(t, "maxBytes")
	maxOffset := rapid.Int64Range(offset, m.logEnd+1).Draw(t, "maxOffset")
	recs, err := l.Read(offset, maxBytes, maxOffset)
	if err != nil {
		t.Fatalf("read(%d, %d, %d): %v", offset, maxBytes, maxOffset, err)
	}
	p, err := recs.Bytes()
	recs.Release()
	if err != nil {
		t.Fatal(err)
	}
	var want []modelBatch
	for _, b := range m.batches {
		if b.last >= offset {
			want = append(want, b)
		}
	}
	got := splitBatches(t, p)
	if len(want) == 0 || want[0].last >= maxOffset {
		if len(got) != 0 {
			t.Fatalf("read(%d, %d, %d) returned %d batches, want none", offset, maxBytes, maxOffset, len(got))
		}
		return
	}
	if len(got) == 0 {
		t.Fatalf("read(%d, %d, %d) returned nothing", offset, maxBytes, maxOffset)
	}
	var total int64
	for i, g := range got {
		if !bytes.Equal(g, want[i].raw) {
			t.Fatalf("read(%d, %d, %d) batch %d differs from the model", offset, maxBytes, maxOffset, i)
		}
		total += int64(len(g))
	}
	if len(got) > 1 && total > maxBytes {
		t.Fatalf("read returned %d bytes over the %d budget", total, maxBytes)
	}
	// It stopped for a reason: the end, the budget, the high watermark or a
	// segment boundary.
	if n := len(got); n < len(want) {
		next := want[n]
		atSegment := false
		for _, s := range l.Segments() {
			atSegment = atSegment || s.BaseOffset == next.base || (s.BaseOffset > want[n-1].last && s.BaseOffset <= next.base)
		}
		if total+int64(len(next.raw)) <= maxBytes && next.last < maxOffset && !atSegment {
			t.Fatalf("read(%d, %d, %d) stopped early after %d batches", offset, maxBytes, maxOffset, n)
		}
	}
	if recs.FirstOffset != want[0].base || recs.NextOffset != want[len(got)-1].last+1 {
		t.Fatalf("read offsets %d..%d", recs.FirstOffset, recs.NextOffset)
	}
}

// checkAll reads the whole log and compares it with the model.
func checkAll(t *rapid.T, l *Log, m *logModel) {
	got := readAllBatches(t, l, math.MaxInt32)
	want := m.visible()
	if len(got) != len(want) {
		t.Fatalf("log has %d batches, model %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i].raw) {
			t.Fatalf("batch %d differs", i)
		}
	}
}

// TestIndexLookupMatchesLinearScan checks both index lookups against a
// linear scan over random sorted indexes.
func TestIndexLookupMatchesLinearScan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 50).Draw(t, "entries")
		var index []offsetIndexEntry
		var times []timeIndexEntry
		var rel, pos uint32
		var ts int64
		for range n {
			rel += uint32(rapid.IntRange(1, 100).Draw(t, "relStep"))
			pos += uint32(rapid.IntRange(61, 5000).Draw(t, "posStep"))
			ts += rapid.Int64Range(1, 100).Draw(t, "tsStep")
			index = append(index, offsetIndexEntry{relOffset: rel, position: pos})
			times = append(times, timeIndexEntry{timestampMs: ts, relOffset: rel})
		}
		decoded, err := decodeOffsetIndex(encodeOffsetIndex(index), int64(pos)+BatchHeaderBytes)
		if err != nil || len(decoded) != len(index) {
			t.Fatalf("offset index round trip: %v", err)
		}
		decodedTimes, err := decodeTimeIndex(encodeTimeIndex(times), math.MaxUint32)
		if err != nil || len(decodedTimes) != len(times) {
			t.Fatalf("time index round trip: %v", err)
		}
		for range 20 {
			target := uint32(rapid.IntRange(0, int(rel)+10).Draw(t, "target"))
			want := offsetIndexEntry{}
			for _, e := range index {
				if e.relOffset <= target {
					want = e
				}
			}
			if got := lookupOffsetIndex(decoded, target); got != want {
				t.Fatalf("lookup %d: got %+v want %+v", target, got, want)
			}
			tsTarget := rapid.Int64Range(0, ts+10).Draw(t, "tsTarget")
			var wantRel uint32
			for _, e := range times {
				if e.timestampMs < tsTarget {
					wantRel = e.relOffset
				}
			}
			if got := lookupTimeIndexBelow(decodedTimes, tsTarget); got != wantRel {
				t.Fatalf("time lookup %d: got %d want %d", tsTarget, got, wantRel)
			}
		}
	})
}

var _ = fmt.Sprintf
