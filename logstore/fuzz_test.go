package logstore

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/logstore/vfs"
)

// FuzzParseBatch checks that batch validation never panics and that what it
// accepts is self-consistent.
func FuzzParseBatch(f *testing.F) {
	f.Add(simpleBatch(f, 3, 20, 1000, 1))
	f.Add(makeBatch(f, 2, []recordSpec{{timestampMs: 5, value: []byte("hello")}}))
	f.Add([]byte{})
	f.Add(make([]byte, BatchHeaderBytes))
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := ParseBatch(p)
		if err != nil {
			return
		}
		if size, err := BatchSize(p); err != nil || size != len(p) || len(b.Raw) != len(p) {
			t.Fatalf("accepted batch of %d bytes with size %d (%v)", len(p), size, err)
		}
		h, err := parseBatchHeader(p)
		if err != nil || h.baseOffset != b.FirstOffset || h.lastOffsetDelta != b.LastOffsetDelta || h.maxTimestampMs != b.MaxTimestamp {
			t.Fatalf("header %+v disagrees with the batch (%v)", h, err)
		}
		// Timestamp decoding of an accepted batch must not panic either.
		_ = eachRecord(NewCodecs(), &b, func(*kmsg.Record) bool { return true })
	})
}

// FuzzRecovery writes valid batches followed by arbitrary bytes as a segment,
// recovers it and checks that recovery never panics, keeps every valid batch
// and returns only valid, increasing batches.
func FuzzRecovery(f *testing.F) {
	f.Add(uint8(3), []byte{}, []byte{})
	f.Add(uint8(2), []byte{0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 80, 0, 0, 0, 0, 2}, []byte{0, 0, 0, 1, 0, 0, 0, 70})
	f.Add(uint8(0), simpleBatch(f, 1, 10, 0, 7), []byte{})
	f.Add(uint8(1+8), bytes.Repeat([]byte{0xff}, 100), []byte{0, 0, 0, 2, 0, 0, 0, 0x90})
	f.Fuzz(func(t *testing.T, validCount uint8, tail, index []byte) {
		mem := vfs.NewMem()
		if err := mem.MkdirAll("/p", 0o755); err != nil {
			t.Fatal(err)
		}
		valid, file, _ := fuzzBatches(t, int(validCount%8))
		file = append(file, tail...)
		fh, err := mem.OpenFile("/p/"+segmentFileName(0, logFileExt), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.Write(file); err != nil {
			t.Fatal(err)
		}
		_ = fh.Close()
		// validCount >= 8 also claims a clean shutdown with index files made
		// of the fuzz input: the trusted path must cope with lying indexes.
		if validCount >= 8 {
			for _, name := range []string{segmentFileName(0, indexFileExt), segmentFileName(0, timeIndexFileExt), cleanShutdownFile} {
				if err := vfs.WriteFileAtomic(mem, "/p/"+name, index); err != nil {
					t.Fatal(err)
				}
			}
		}
		cfg := DefaultConfig()
		cfg.IndexIntervalBytes = 50
		l, err := Open(Options{FS: mem, Dir: "/p", Config: cfg})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer l.Close()
		if validCount >= 8 {
			checkTrustedRecovery(t, l)
			return
		}
		got := readAllBatches(t, l, 1<<20)
		if len(got) < len(valid) {
			t.Fatalf("recovered %d batches, %d were valid", len(got), len(valid))
		}
		prev := int64(-1)
		for i, g := range got {
			if i < len(valid) && !bytes.Equal(g, valid[i]) {
				t.Fatalf("valid batch %d changed", i)
			}
			b, err := ParseBatch(g)
			if err != nil || b.FirstOffset <= prev {
				t.Fatalf("recovered batch %d invalid or not increasing: %v", i, err)
			}
			prev = b.LastOffset()
		}
		// The log stays appendable, at its latest leader epoch (a tail
		// the fuzzer made a valid batch of may carry any epoch).
		epoch, _ := l.LatestEpoch()
		if _, err := l.Append([][]byte{simpleBatch(t, 1, 5, 0, 1)}, max(epoch, 0), 0); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
	})
}

// checkTrustedRecovery reads a log whose indexes and clean-shutdown marker may
// lie: reads may fail, but only with ErrCorruption, and nothing panics.
func checkTrustedRecovery(t *testing.T, l *Log) {
	offset, end := l.LogStartOffset(), l.LogEndOffset()
	for offset < end {
		recs, err := l.Read(offset, 1<<20, end)
		if err != nil {
			if !errors.Is(err, ErrCorruption) {
				t.Fatalf("read at %d: %v, want ErrCorruption", offset, err)
			}
			return
		}
		_, err = recs.Bytes()
		recs.Release()
		if err != nil || recs.NextOffset <= offset {
			return
		}
		offset = recs.NextOffset
	}
	_, _, _ = l.OffsetForTimestamp(0)
	_, _, _ = l.OffsetOfMaxTimestamp()
}

// FuzzRecoveryGap recovers, without a recovery point, a segment of valid
// batches cut at an arbitrary length, with arbitrary index files, followed
// by a segment of one valid batch starting at or past where the first one
// ended: recovery never fails or panics, keeps every whole batch of the
// first segment, drops the second after a torn batch, and keeps it when
// the first is whole or its index names nothing (a compaction gap).
func FuzzRecoveryGap(f *testing.F) {
	f.Add(uint8(3), uint16(0), uint8(0), []byte{}, []byte{})
	f.Add(uint8(3), uint16(20), uint8(1), []byte{0, 0, 0, 5, 0, 0, 0, 0}, []byte{})
	f.Add(uint8(2), uint16(200), uint8(2), []byte{}, []byte{0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 3})
	f.Fuzz(func(t *testing.T, validCount uint8, cutBytes uint16, gapExtra uint8, index, timeIndex []byte) {
		mem := vfs.NewMem()
		if err := mem.MkdirAll("/p", 0o755); err != nil {
			t.Fatal(err)
		}
		valid, file, next := fuzzBatches(t, int(validCount%6)+1)
		file = file[:len(file)-int(cutBytes)%(len(file)+1)]
		whole, atBoundary := 0, len(file) == 0
		for n := 0; whole < len(valid) && n+len(valid[whole]) <= len(file); whole++ {
			n += len(valid[whole])
			atBoundary = atBoundary || n == len(file)
		}
		second := simpleBatch(t, 1, 10, 50, 9)
		secondBase := next + int64(gapExtra%4)
		SetBatchBaseOffset(second, secondBase)
		write := func(name string, p []byte) {
			if err := vfs.WriteFileAtomic(mem, "/p/"+name, p); err != nil {
				t.Fatal(err)
			}
		}
		write(segmentFileName(0, logFileExt), file)
		write(segmentFileName(secondBase, logFileExt), second)
		write(segmentFileName(0, indexFileExt), index)
		write(segmentFileName(0, timeIndexFileExt), timeIndex)
		l, err := Open(Options{FS: mem, Dir: "/p", Config: DefaultConfig()})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer l.Close()
		got := readAllBatches(t, l, 1<<20)
		if len(got) < whole {
			t.Fatalf("recovered %d batches, %d were whole", len(got), whole)
		}
		for i := range whole {
			if !bytes.Equal(got[i], valid[i]) {
				t.Fatalf("whole batch %d changed", i)
			}
		}
		kept := len(got) == whole+1 && bytes.Equal(got[whole], second)
		if len(got) != whole && !kept {
			t.Fatalf("recovered %d batches, %d were whole and one followed", len(got), whole)
		}
		switch {
		case !atBoundary && kept:
			t.Fatal("kept the segment after a torn batch")
		case atBoundary && whole == len(valid) && secondBase == next && !kept:
			t.Fatal("dropped the segment after a whole one that meets it")
		case atBoundary && len(index) == 0 && len(timeIndex) == 0 && !kept:
			t.Fatal("dropped the segment after a gap no index names")
		}
		if _, err := l.Append([][]byte{simpleBatch(t, 1, 5, 0, 1)}, 0, 0); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
	})
}

// fuzzBatches makes n valid batches at consecutive offsets from 0: each
// batch, their bytes one after another, and the offset after the last.
func fuzzBatches(t *testing.T, n int) (valid [][]byte, file []byte, next int64) {
	for i := range n {
		b := simpleBatch(t, 1+i%3, 10, int64(i), i)
		SetBatchBaseOffset(b, next)
		p, _ := ParseBatch(b)
		next = p.NextOffset()
		valid = append(valid, b)
		file = append(file, b...)
	}
	return valid, file, next
}
