package logstore

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sync"
	"testing"

	"gregor/logstore/vfs"
)

// benchBatchBytes is the batch size of the append benchmarks.
const benchBatchBytes = 16 << 10

// benchBatch builds a batch of about benchBatchBytes of recordBytes records.
func benchBatch(b *testing.B, recordBytes int) []byte {
	n := benchBatchBytes / (recordBytes + 10)
	recs := make([]recordSpec, n)
	for i := range recs {
		recs[i] = recordSpec{timestampMs: int64(i), value: bytes.Repeat([]byte{byte(i)}, recordBytes)}
	}
	return makeBatch(b, 0, recs)
}

func benchConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 256 << 20
	return c
}

// BenchmarkAppend measures appends of 16 KiB batches without fsync and with
// group-commit fsync, beside a raw write loop (and raw write+fdatasync per
// batch) on the same disk.
func BenchmarkAppend(b *testing.B) {
	for _, recordBytes := range []int{100, 1024} {
		name := fmt.Sprintf("rec=%dB", recordBytes)
		if recordBytes == 1024 {
			name = "rec=1KiB"
		}
		b.Run(name+"/nosync/gregor", func(b *testing.B) { benchAppendNoSync(b, recordBytes, nil) })
		b.Run(name+"/nosync-cached/gregor", func(b *testing.B) { benchAppendNoSync(b, recordBytes, newBoundedCache(256<<20)) })
		b.Run(name+"/nosync-cached/ref-rawwrite", func(b *testing.B) { benchRawWrite(b, recordBytes, false) })
		b.Run(name+"/nosync/ref-rawwrite", func(b *testing.B) { benchRawWrite(b, recordBytes, false) })
		b.Run(name+"/groupcommit/gregor", func(b *testing.B) { benchAppendGroupCommit(b, recordBytes) })
		b.Run(name+"/groupcommit/ref-rawwrite-fdatasync", func(b *testing.B) { benchRawWrite(b, recordBytes, true) })
	}
}

func benchAppendNoSync(b *testing.B, recordBytes int, cache BlockCache) {
	batch := benchBatch(b, recordBytes)
	l := openTestLog(b, vfs.OS, b.TempDir(), benchConfig(), cache, 0)
	defer l.Close()
	batches := [][]byte{batch}
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for range b.N {
		if _, err := l.Append(batches, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer() // the deferred Close syncs, which the raw loop does not
}

// benchAppendGroupCommit appends with up to 64 batches awaiting durability.
func benchAppendGroupCommit(b *testing.B, recordBytes int) {
	batch := benchBatch(b, recordBytes)
	l := openTestLog(b, vfs.OS, b.TempDir(), benchConfig(), nil, 0)
	defer l.Close()
	g := NewGroupCommitter(l, 1024, nil)
	defer g.Close()
	window := make(chan struct{}, 64)
	var wg sync.WaitGroup
	batches := [][]byte{batch}
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for range b.N {
		window <- struct{}{}
		res, err := l.Append(batches, 0, 0)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		g.NotifyWhenDurable(res.LogEndOffset, func(err error) {
			if err != nil {
				b.Error(err)
			}
			<-window
			wg.Done()
		})
	}
	wg.Wait()
	b.StopTimer()
}

func benchRawWrite(b *testing.B, recordBytes int, syncEach bool) {
	batch := benchBatch(b, recordBytes)
	f, err := os.OpenFile(path.Join(b.TempDir(), "raw"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for range b.N {
		if _, err := f.Write(batch); err != nil {
			b.Fatal(err)
		}
		if syncEach {
			if err := fdatasync(f); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
}

// benchReadBytes is how much each read benchmark iteration reads.
const benchReadBytes = 1 << 20

// BenchmarkRead measures sequential 1 MiB reads of a 64 MiB log from the
// cache (copied out with AppendTo, beside memcpy) and from disk files (written
// with WriteTo, beside a raw ReadAt loop).
func BenchmarkRead(b *testing.B) {
	const logBytes = 64 << 20
	batch := benchBatch(b, 1024)
	for _, cached := range []bool{true, false} {
		mode := "disk"
		if cached {
			mode = "cache"
		}
		b.Run(mode+"/gregor", func(b *testing.B) {
			var cache BlockCache
			if cached {
				cache = newBoundedCache(256 << 20)
			}
			dir := b.TempDir()
			l := openTestLog(b, vfs.OS, dir, benchConfig(), cache, 0)
			defer l.Close()
			for written := 0; written < logBytes; written += len(batch) {
				if _, err := l.Append([][]byte{batch}, 0, 0); err != nil {
					b.Fatal(err)
				}
			}
			benchSequentialRead(b, l, cached)
		})
		if cached {
			b.Run(mode+"/ref-memcpy", func(b *testing.B) {
				src := bytes.Repeat([]byte{1}, logBytes)
				dst := make([]byte, benchReadBytes)
				b.SetBytes(benchReadBytes)
				b.ResetTimer()
				for i := range b.N {
					off := (i * benchReadBytes) % logBytes
					copy(dst, src[off:off+benchReadBytes])
				}
			})
			continue
		}
		b.Run(mode+"/ref-rawread", func(b *testing.B) {
			name := path.Join(b.TempDir(), "raw")
			if err := os.WriteFile(name, bytes.Repeat([]byte{1}, logBytes), 0o644); err != nil {
				b.Fatal(err)
			}
			f, err := os.Open(name)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 256<<10)
			b.SetBytes(benchReadBytes)
			b.ResetTimer()
			for i := range b.N {
				off := int64(i*benchReadBytes) % logBytes
				for n := int64(0); n < benchReadBytes; n += int64(len(buf)) {
					if _, err := f.ReadAt(buf, off+n); err != nil {
						b.Fatal(err)
					}
					_, _ = io.Discard.Write(buf)
				}
			}
		})
	}
}

// benchSequentialRead reads the log front to back in 1 MiB reads, wrapping.
func benchSequentialRead(b *testing.B, l *Log, copyOut bool) {
	end := l.LogEndOffset()
	buf := make([]byte, 0, 2*benchReadBytes)
	offset := int64(0)
	var total int64
	b.ResetTimer()
	for range b.N {
		if offset >= end {
			offset = 0
		}
		recs, err := l.Read(offset, benchReadBytes, end)
		if err != nil {
			b.Fatal(err)
		}
		if copyOut {
			buf, err = recs.AppendTo(buf[:0])
		} else {
			_, err = recs.WriteTo(io.Discard)
		}
		if err != nil {
			b.Fatal(err)
		}
		total += recs.Len()
		offset = recs.NextOffset
		recs.Release()
	}
	b.SetBytes(total / int64(b.N))
}

// newBoundedCache is a FIFO BlockCache holding at most maxBytes, standing
// in for the node's ristretto cache in benchmarks with a bounded footprint.
func newBoundedCache(maxBytes int64) *mapCache { return newEvictingCache(maxBytes) }

// BenchmarkAppendAsFollower measures a follower's append of a fetched
// response of 1 MiB made of batches of 16 KiB (a Java producer's default
// batch.size) or of one 1 MiB batch, without fsync.
func BenchmarkAppendAsFollower(b *testing.B) {
	for _, batchBytes := range []int{16 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("batch=%dKiB/gregor", batchBytes>>10), func(b *testing.B) {
			recs := make([]recordSpec, batchBytes/(1024+10))
			for i := range recs {
				recs[i] = recordSpec{timestampMs: int64(i), value: bytes.Repeat([]byte{byte(i)}, 1024)}
			}
			proto := makeBatch(b, 0, recs)
			perResponse := max((1<<20)/len(proto), 1)
			l := openTestLog(b, vfs.OS, b.TempDir(), benchConfig(), nil, 0)
			defer l.Close()
			b.SetBytes(int64(perResponse * len(proto)))
			next := int64(0)
			b.ResetTimer()
			for range b.N {
				batches := make([][]byte, perResponse)
				b.StopTimer()
				for i := range batches {
					batches[i] = bytes.Clone(proto)
					SetBatchBaseOffset(batches[i], next)
					next += int64(len(recs))
				}
				b.StartTimer()
				if _, err := l.AppendAsFollower(batches, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
		})
	}
}
