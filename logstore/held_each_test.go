package logstore

import (
	"bytes"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A group commit's batches, each in its own frame, are written at once;
// reads of those with a release come from their frames, the one without is
// read from the file, and each frame goes back on its own once the high
// watermark passes its batch.
func TestHeldEachServesEveryFrame(t *testing.T) {
	l := openHeldLog(t, NewHoldBudget(1<<20))
	frames := []*heldFrame{newHeldFrame(simpleBatch(t, 4, 100, 1000, 0)), newHeldFrame(simpleBatch(t, 2, 100, 1000, 1)),
		newHeldFrame(simpleBatch(t, 3, 100, 1000, 2))}
	res, err := l.AppendValidatedHeldEach([][]byte{frames[0].buf, frames[1].buf, frames[2].buf},
		[]func(){frames[0].release, nil, frames[2].release}, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{0, 4, 6}; len(res.BaseOffsets) != 3 || res.BaseOffsets[0] != want[0] || res.BaseOffsets[1] != want[1] ||
		res.BaseOffsets[2] != want[2] || res.LogEndOffset != 9 {
		t.Fatalf("assigned %v end %d, want %v end 9", res.BaseOffsets, res.LogEndOffset, want)
	}
	recs, err := l.ReadUntailed(0, 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	got, err := recs.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	recs.Release()
	if !bytes.Equal(got, bytes.Join([][]byte{frames[0].buf, frames[1].buf, frames[2].buf}, nil)) {
		t.Fatal("the read differs from the appended batches")
	}
	for i, b := range splitBatches(t, got) {
		if _, err := ParseBatch(b); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if frames[0].released.Load() != 0 || frames[2].released.Load() != 0 {
		t.Fatal("a held frame went back before the high watermark passed it")
	}
	l.ReleaseHeldBelow(4)
	if frames[0].released.Load() != 1 || frames[2].released.Load() != 0 {
		t.Fatal("want only the first frame let go at offset 4")
	}
	l.ReleaseHeldBelow(9)
	if frames[2].released.Load() != 1 || frames[1].released.Load() != 0 {
		t.Fatal("want the third frame let go at 9, the second never (it had no release)")
	}
}

// A group commit the log refuses (one batch too large for a segment)
// appends nothing and calls no release: the caller still owns every frame
// and can append the batches one by one, the large one failing alone.
func TestHeldEachRefusedKeepsEveryFrame(t *testing.T) {
	l := openHeldLog(t, NewHoldBudget(1<<20))
	cfg := l.cfg
	small := newHeldFrame(simpleBatch(t, 2, 10, 1000, 0))
	large := newHeldFrame(simpleBatch(t, 2, 4000, 1000, 1))
	cfg.SegmentBytes = int64(len(large.buf) - 1)
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	_, err := l.AppendValidatedHeldEach([][]byte{small.buf, large.buf}, []func(){small.release, large.release}, 0, 1)
	if !errors.Is(err, kerr.RecordListTooLarge) {
		t.Fatalf("append with a batch larger than a segment: %v, want RECORD_LIST_TOO_LARGE", err)
	}
	if small.released.Load() != 0 || large.released.Load() != 0 || l.LogEndOffset() != 0 {
		t.Fatalf("a refused group commit released frames (%d, %d) or appended (log end %d)",
			small.released.Load(), large.released.Load(), l.LogEndOffset())
	}
	if _, err := l.AppendValidatedHeld([][]byte{small.buf}, 0, 1, small.release); err != nil {
		t.Fatalf("the small batch alone: %v", err)
	}
	if l.LogEndOffset() != 2 {
		t.Fatalf("log end %d after the small batch, want 2", l.LogEndOffset())
	}
}
