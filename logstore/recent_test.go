package logstore

import (
	"fmt"
	"testing"

	"gregor/logstore/vfs"
)

// A caught-up follower's read of small batches finds its batch and the
// headers of the batches it returns in the segment's recent list: it makes
// no read of the segment file (each header walked from the offset-index
// entry used to be a pread(2): dozens per Fetch of transactional batches).
// Reads from before the list still walk the file's headers, every read
// returns the appended bytes, after a truncation the list holds none of
// the batches cut, and a log no follower read lists nothing.
func TestRecentBatchesSpareHeaderReads(t *testing.T) {
	fs := &logReadCountingFS{FS: vfs.NewMem()}
	cfg := DefaultConfig() // index.interval.bytes 4 KiB: ~45 of these batches
	l := openTestLog(t, fs, "/p", cfg, nil, 0)
	defer l.Close()
	listed := func() int {
		l.mu.RLock()
		defer l.mu.RUnlock()
		return len(l.active().recent)
	}
	// Nobody replicates the log yet: its appends list nothing.
	if _, err := l.Append([][]byte{simpleBatch(t, 1, 20, 0, 0)}, 7, 0); err != nil {
		t.Fatal(err)
	}
	if n := listed(); n != 0 {
		t.Fatalf("a log no follower read lists %d batches", n)
	}
	// A follower's first read (caught up at the log end).
	recs, err := l.ReadUntailed(l.LogEndOffset(), 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	recs.Release()
	batches := appendN(t, l, 300, 20, 0) // more than the list keeps
	firstOffsets := make([]int64, len(batches))
	next := int64(1) // after the first batch's one record
	for i := range batches {
		firstOffsets[i] = next
		next += int64(1 + i%3)
	}
	// readFrom reads everything from the batch i on, and says how many
	// times the read itself (not the bytes' copy) read the file.
	readFrom := func(i int, want [][]byte) int64 {
		t.Helper()
		before := fs.logReadAts.Load()
		recs, err := l.ReadUntailed(firstOffsets[i], 1<<20, l.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		reads := fs.logReadAts.Load() - before
		raw, err := recs.Bytes()
		recs.Release()
		if err != nil {
			t.Fatal(err)
		}
		equalBatches(t, splitBatches(t, raw), want)
		return reads
	}
	for i := len(batches) - 10; i < len(batches); i++ {
		if n := readFrom(i, batches[i:]); n != 0 {
			t.Errorf("read from batch %d of %d (just appended): %d reads of the segment file, want none", i, len(batches), n)
		}
	}
	if n := readFrom(1, batches[1:]); n == 0 {
		t.Error("a read from the second batch, long before the listed ones, read no header from the file")
	}

	// Cut five batches, append five others: reads see the new ones only,
	// still without reading the file.
	cut := len(batches) - 5
	if err := l.Truncate(firstOffsets[cut], 1); err != nil {
		t.Fatal(err)
	}
	fresh := make([][]byte, 0, 5)
	for i := range 5 {
		b := simpleBatch(t, 1, 20, 500, 1000+i)
		if _, err := l.Append([][]byte{b}, 7, 500); err != nil {
			t.Fatal(err)
		}
		fresh = append(fresh, b)
	}
	want := append(append([][]byte{}, batches[cut-3:cut]...), fresh...)
	readFrom(cut-3, want)
	firstOffsets[cut+1] = firstOffsets[cut] + 1
	if n := readFrom(cut+1, fresh[1:]); n != 0 {
		t.Errorf("read of batches appended after a truncation: %d reads of the segment file, want none", n)
	}
}

// Reads from the end of a log that takes appends meanwhile (each reader
// with a view of the recent list as the appender grows and renews it) get
// whole batches starting with the one that holds their offset, with no
// offset missing; run under the race detector.
func TestRecentBatchesConcurrentReaders(t *testing.T) {
	l := openTestLog(t, vfs.NewMem(), "/p", DefaultConfig(), nil, 0)
	defer l.Close()
	const batches = 1500
	done := make(chan struct{})
	errs := make(chan error, 2)
	for r := range 2 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				end := l.LogEndOffset()
				from := max(end-int64(1+r*7), 0)
				recs, err := l.ReadUntailed(from, 1<<20, end)
				if err != nil {
					errs <- err
					return
				}
				raw, err := recs.Bytes()
				recs.Release()
				if err != nil {
					errs <- err
					return
				}
				next := int64(-1)
				for len(raw) > 0 {
					n, err := BatchSize(raw)
					if err != nil {
						errs <- err
						return
					}
					b, err := ParseBatch(raw[:n])
					if err != nil {
						errs <- err
						return
					}
					if next < 0 && (b.FirstOffset > from || b.LastOffset() < from) {
						errs <- fmt.Errorf("read from %d starts with batch %d..%d", from, b.FirstOffset, b.LastOffset())
						return
					}
					if next >= 0 && b.FirstOffset != next {
						errs <- fmt.Errorf("read from %d: batch at %d after one ending before %d", from, b.FirstOffset, next)
						return
					}
					next, raw = b.NextOffset(), raw[n:]
				}
			}
		}()
	}
	for i := range batches {
		if _, err := l.Append([][]byte{simpleBatch(t, 1+i%3, 20, int64(i), i)}, 7, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
