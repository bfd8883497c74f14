package logstore

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/zap/zaptest"

	"gregor/logstore/vfs"
)

// heldFrame is a produce frame handed to AppendValidatedHeld in tests: its
// release poisons it (as netio's pool does in poisoning mode) and counts.
type heldFrame struct {
	buf      []byte
	released atomic.Int32
}

func newHeldFrame(batch []byte) *heldFrame { return &heldFrame{buf: bytes.Clone(batch)} }

func (f *heldFrame) release() {
	if f.released.Add(1) != 1 {
		panic("frame released twice")
	}
	for i := range f.buf {
		f.buf[i] = 0xdb
	}
}

func openHeldLog(t *testing.T, budget *HoldBudget) *Log {
	t.Helper()
	l, err := Open(Options{FS: vfs.NewMem(), Dir: "/p", Config: DefaultConfig(), HoldBudget: budget,
		BlockPool: NewBlockPool(testBlockPoolBytes, true), Logger: zaptest.NewLogger(t), NowMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// A read of held batches is served from the appender's frames, which go
// back only when both the log and the read let go of them; a read after
// that gets the same bytes from the file.
func TestHeldBatchesServeReadsFromTheirFrames(t *testing.T) {
	budget := NewHoldBudget(1 << 20)
	l := openHeldLog(t, budget)
	var frames []*heldFrame
	var starts []int64
	for i := range 3 {
		f := newHeldFrame(simpleBatch(t, 4, 100, 1000, i))
		frames = append(frames, f)
		starts = append(starts, l.LogEndOffset())
		if _, err := l.AppendValidatedHeld([][]byte{f.buf}, 0, 1, f.release); err != nil {
			t.Fatal(err)
		}
	}
	if got := budget.UsedBytes(); got != int64(3*len(frames[0].buf)) {
		t.Fatalf("budget used %d bytes, want %d", got, 3*len(frames[0].buf))
	}
	recs, err := l.ReadUntailed(starts[1], 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	bufs, ok := recs.AppendBuffers(nil)
	if !ok || len(bufs) != 2 || &bufs[0][0] != &frames[1].buf[0] || &bufs[1][0] != &frames[2].buf[0] {
		t.Fatalf("read of held batches: ok %v, %d buffers, not the frames", ok, len(bufs))
	}
	held := bytes.Join(bufs, nil)

	l.ReleaseHeldBelow(l.LogEndOffset())
	if frames[0].released.Load() != 1 || frames[1].released.Load() != 0 || frames[2].released.Load() != 0 {
		t.Fatal("the log let go of a frame a read still holds, or kept one nobody reads")
	}
	recs.Release()
	for i, f := range frames {
		if f.released.Load() != 1 {
			t.Fatalf("frame %d not released after the read let go", i)
		}
	}
	if budget.UsedBytes() != 0 {
		t.Fatalf("budget still counts %d bytes", budget.UsedBytes())
	}
	again, err := l.ReadUntailed(starts[1], 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release()
	if _, ok := again.AppendBuffers(nil); ok {
		t.Fatal("a read of released batches still came from memory")
	}
	fromFile, err := again.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fromFile, held) {
		t.Fatal("the held frames' bytes differ from the file's")
	}
	for _, b := range splitBatches(t, held) {
		if _, err := ParseBatch(b); err != nil {
			t.Fatalf("held batch: %v", err)
		}
	}
}

// Past the budget an append is written as usual and its frame let go at
// once; a read between held batches mixes frames and the file.
func TestHeldBatchesBoundedByBudget(t *testing.T) {
	batch := simpleBatch(t, 4, 100, 1000, 0)
	l := openHeldLog(t, NewHoldBudget(int64(2*len(batch))))
	var frames []*heldFrame
	for i := range 3 {
		f := newHeldFrame(simpleBatch(t, 4, 100, 1000, i))
		frames = append(frames, f)
		if _, err := l.AppendValidatedHeld([][]byte{f.buf}, 0, 1, f.release); err != nil {
			t.Fatal(err)
		}
	}
	if frames[0].released.Load() != 0 || frames[1].released.Load() != 0 || frames[2].released.Load() != 1 {
		t.Fatal("want the first two frames held and the third let go")
	}
	l.ReleaseHeldBelow(4) // the first batch's records are 0..3
	if frames[0].released.Load() != 1 || frames[1].released.Load() != 0 {
		t.Fatal("want only the first frame let go")
	}
	recs, err := l.ReadUntailed(0, 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	defer recs.Release()
	got, err := recs.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	batches := splitBatches(t, got)
	if len(batches) != 3 {
		t.Fatalf("read %d batches, want 3", len(batches))
	}
	for i, b := range batches {
		if _, err := ParseBatch(b); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
}

// After a truncation the held batches of the old bytes are never served:
// a read gets what was appended since.
func TestHeldBatchesNotServedAfterTruncation(t *testing.T) {
	l := openHeldLog(t, NewHoldBudget(1<<20))
	f := newHeldFrame(simpleBatch(t, 4, 100, 1000, 1))
	if _, err := l.AppendValidatedHeld([][]byte{f.buf}, 0, 1, f.release); err != nil {
		t.Fatal(err)
	}
	if err := l.Truncate(0, 2); err != nil {
		t.Fatal(err)
	}
	other := simpleBatch(t, 4, 100, 1000, 2)
	if _, err := l.Append([][]byte{bytes.Clone(other)}, 0, 3); err != nil {
		t.Fatal(err)
	}
	recs, err := l.ReadUntailed(0, 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	got, err := recs.Bytes()
	recs.Release()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := ParseBatch(got); err != nil || b.NumRecords != 4 || bytes.Equal(got, f.buf) {
		t.Fatalf("read after truncation: %v (served the old held batch: %v)", err, bytes.Equal(got, f.buf))
	}
	l.ReleaseHeldBelow(0)
	if f.released.Load() != 1 {
		t.Fatal("the held frame of truncated bytes was kept")
	}
}

// Readers racing the appender (holding, and letting go past the budget or
// below an offset) only ever see whole valid batches: a frame let go while
// read would be poisoned.
func TestHeldBatchesConcurrentReaders(t *testing.T) {
	l := openHeldLog(t, NewHoldBudget(64<<10))
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				end := l.LogEndOffset()
				from := max(l.LogStartOffset(), end-12)
				recs, err := l.ReadUntailed(from, 1<<20, end)
				if err != nil {
					errs <- err
					return
				}
				p, err := recs.Bytes()
				if err == nil {
					for len(p) > 0 {
						n, serr := BatchSize(p)
						if serr != nil || n > len(p) {
							err = serr
							break
						}
						if _, err = ParseBatch(p[:n]); err != nil {
							break
						}
						p = p[n:]
					}
				}
				recs.Release()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 400 {
		f := newHeldFrame(simpleBatch(t, 4, 100, 1000, i))
		if _, err := l.AppendValidatedHeld([][]byte{f.buf}, 0, 1, f.release); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			l.ReleaseHeldBelow(l.LogEndOffset() - 8)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a reader saw a broken batch: %v", err)
	}
}
