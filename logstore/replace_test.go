package logstore

import (
	"bytes"
	"os"
	"testing"

	"pgregory.net/rapid"

	"gregor/logstore/vfs"
)

// cleanedCopy writes every other batch of the segments [from, to) of l to a
// cleaned file and returns its path, the range and the batches it keeps.
func cleanedCopy(tb testingT, fsys vfs.FS, l *Log, all [][]byte, from, to int) (string, int64, int64, [][]byte) {
	segs := l.Segments()
	first, end := segs[from].BaseOffset, segs[to-1].NextOffset
	var kept [][]byte
	var data []byte
	for i, b := range all {
		p, _ := ParseBatch(b)
		if p.FirstOffset >= first && p.FirstOffset < end && i%2 == 0 {
			kept = append(kept, b)
			data = append(data, b...)
		}
	}
	name := l.Dir() + "/cleaned.tmp-compaction"
	f, err := fsys.OpenFile(name, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		tb.Fatal(err)
	}
	_ = f.Close()
	return name, first, end, kept
}

// expectedAfterReplace is all with the batches in [first, end) replaced by kept.
func expectedAfterReplace(all, kept [][]byte, first, end int64) [][]byte {
	var out [][]byte
	added := false
	for _, b := range all {
		p, _ := ParseBatch(b)
		if p.FirstOffset < first || p.FirstOffset >= end {
			out = append(out, b)
			continue
		}
		if !added {
			out = append(out, kept...)
			added = true
		}
	}
	return out
}

func TestReplaceSegments(t *testing.T) {
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", smallConfig(), newMapCache(), 0)
	all := appendN(t, l, 200, 40, 0)
	name, first, end, kept := cleanedCopy(t, mem, l, all, 1, 4)
	before := len(l.Segments())
	held, err := l.Read(first, 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.ReplaceSegments(first, end, name); err != nil {
		t.Fatal(err)
	}
	if n := len(l.Segments()); n != before-2 {
		t.Fatalf("%d segments after replacing 3 by 1, had %d", n, before)
	}
	want := expectedAfterReplace(all, kept, first, end)
	equalBatches(t, readAllBatches(t, l, 1<<20), want)
	// A reader that held the old segments still reads them.
	if _, err := held.Bytes(); err != nil {
		t.Fatalf("read of replaced segments: %v", err)
	}
	held.Release()
	for _, clean := range []bool{true, false} {
		if clean {
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}
		l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
		equalBatches(t, readAllBatches(t, l, 1<<20), want)
	}
	if err := l.ReplaceSegments(first+1, end, name); err == nil {
		t.Fatal("replacing a range that does not start at a segment succeeded")
	}
	_ = l.Close()
}

// TestReplaceSegmentsCrash crashes at every point of a segment swap: the
// recovered log holds either the old or the cleaned batches for the range.
func TestReplaceSegmentsCrash(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mem := vfs.NewMem(vfs.WithTornWrites(rapid.Uint64().Draw(t, "seed")))
		l := openTestLog(t, mem, "/p", smallConfig(), nil, 0)
		all := make([][]byte, 0, 120)
		for i := range 120 {
			b := simpleBatch(t, 1+i%3, 40, int64(i), i)
			if _, err := l.Append([][]byte{b}, 0, 0); err != nil {
				t.Fatal(err)
			}
			all = append(all, b)
		}
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		name, first, end, kept := cleanedCopy(t, mem, l, all, 0, 3)
		if err := mem.SyncDir("/p"); err != nil {
			t.Fatal(err)
		}
		mem.CrashAfterOps(rapid.Int64Range(0, 40).Draw(t, "ops"))
		_ = l.ReplaceSegments(first, end, name)
		mem.Crash()
		l = openTestLog(t, mem, "/p", smallConfig(), nil, 0)
		defer l.Close()
		got := readAllBatches(t, l, 1<<20)
		replaced := expectedAfterReplace(all, kept, first, end)
		if !sameBatches(got, all) && !sameBatches(got, replaced) {
			t.Fatalf("recovered %d batches: neither the old %d nor the replaced %d", len(got), len(all), len(replaced))
		}
	})
}

func sameBatches(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
