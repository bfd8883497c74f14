//go:build !race

package logstore

import (
	"bytes"
	"testing"

	"gregor/logstore/vfs"
)

// A leader's append of one batch allocates nothing once the log wrote its
// first: the answer's base offsets reuse the log's array (one allocation
// an append before), the file write its appender's scratch
// (TestWriteVectoredAllocatesNothing). Without the race detector only:
// under it, the raw pwritev is not taken.
func TestLeaderAppendAllocatesNothing(t *testing.T) {
	batch := makeBatch(t, 0, []recordSpec{{timestampMs: 1, value: bytes.Repeat([]byte{'v'}, 100)}})
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	l := openTestLog(t, vfs.OS, t.TempDir(), cfg, nil, 0)
	defer l.Close()
	batches := [][]byte{batch}
	next := int64(0)
	appendOne := func() {
		res, err := l.Append(batches, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.BaseOffsets) != 1 || res.BaseOffsets[0] != next {
			t.Fatalf("base offsets %v, want [%d]", res.BaseOffsets, next)
		}
		next = res.LogEndOffset
	}
	appendOne()
	if n := testing.AllocsPerRun(100, appendOne); n != 0 {
		t.Errorf("%v allocations an append, want 0", n)
	}
}
