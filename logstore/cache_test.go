package logstore

import (
	"testing"

	"gregor/logstore/vfs"
)

// TestLogsSharingACacheNeverSeeEachOthersBlocks opens several logs on one
// cache, with the same segment base offsets and block positions, and a
// truncated and rewritten one: every read returns its own log's bytes, from
// the cache.
func TestLogsSharingACacheNeverSeeEachOthersBlocks(t *testing.T) {
	cache := newMapCache()
	mem := vfs.NewMem()
	cfg := smallConfig()
	var logs []*Log
	var want [][][]byte
	for i, dir := range []string{"/a", "/b", "/c"} {
		l := openTestLog(t, mem, dir, cfg, cache, 0)
		defer l.Close()
		logs = append(logs, l)
		want = append(want, appendN(t, l, 150, 30+i, int64(i)))
	}
	// Rewrite /b from the middle: its old blocks there must not be served.
	cut := logs[1].LogEndOffset() / 2
	if err := logs[1].Truncate(cut, 0); err != nil {
		t.Fatal(err)
	}
	want[1] = want[1][:len(readAllBatches(t, logs[1], 1<<20))]
	want[1] = append(want[1], appendN(t, logs[1], 100, 50, 5)...)
	hits := cache.hits
	for i, l := range logs {
		equalBatches(t, readAllBatches(t, l, 1<<20), want[i])
	}
	if cache.hits == hits {
		t.Fatal("reads never hit the shared cache")
	}
}

// TestLogWithoutCacheNumbersSegments checks that a log opened without a cache
// still gives each segment incarnation its own id (the cleaner relies on it to
// notice a truncated segment).
func TestLogWithoutCacheNumbersSegments(t *testing.T) {
	l := openTestLog(t, vfs.NewMem(), "/p", smallConfig(), nil, 0)
	defer l.Close()
	appendN(t, l, 100, 40, 0)
	seen := map[uint64]bool{}
	l.mu.RLock()
	for _, s := range l.segments {
		if seen[s.id] {
			t.Fatalf("segment id %d used twice", s.id)
		}
		seen[s.id] = true
	}
	active := l.active()
	before := active.id
	l.mu.RUnlock()
	if err := l.Truncate(active.nextOffset-1, 0); err != nil {
		t.Fatal(err)
	}
	l.mu.RLock()
	after := l.active().id
	l.mu.RUnlock()
	if after == before || seen[after] {
		t.Fatalf("truncated segment kept or reused id %d (was %d)", after, before)
	}
}
