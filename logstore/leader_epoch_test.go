package logstore

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestEndOffsetForEpochAnswersAsKafka(t *testing.T) {
	es := []EpochEntry{{1, 0}, {3, 10}, {5, 20}}
	for _, c := range []struct {
		es        []EpochEntry
		requested int32
		epoch     int32
		end       int64
	}{
		{es, -1, -1, -1},      // undefined epoch asked
		{es, -7, -1, -1},      // any negative epoch
		{es, 5, 5, 30},        // the latest: the log end offset
		{es, 6, -1, -1},       // past the latest
		{es, 1 << 30, -1, -1}, // far past it
		{es, math.MaxInt32, -1, -1},
		{es, 0, 0, 0},  // below the first: itself, the first start
		{es, 1, 1, 10}, // ends where 3 starts
		{es, 2, 1, 10}, // unknown, between: the one below, the next start
		{es, 3, 3, 20},
		{es, 4, 3, 20},
		{nil, 0, -1, -1}, // empty cache
		{nil, -1, -1, -1},
		{[]EpochEntry{{2, 5}}, 2, 2, 30},
		{[]EpochEntry{{2, 5}}, 1, 1, 5},
		{[]EpochEntry{{2, 5}}, 3, -1, -1},
		{[]EpochEntry{{0, 0}, {2, 30}}, 0, 0, 30}, // an epoch begun at the end
	} {
		epoch, end := endOffsetForEpoch(c.es, c.requested, 30)
		if epoch != c.epoch || end != c.end {
			t.Errorf("entries %v, epoch %d: got (%d, %d), want (%d, %d)", c.es, c.requested, epoch, end, c.epoch, c.end)
		}
	}
}

func TestLeaderAssign(t *testing.T) {
	for _, c := range []struct {
		es     []EpochEntry
		epoch  int32
		logEnd int64
		want   []EpochEntry
		err    error
	}{
		{nil, 0, 0, []EpochEntry{{0, 0}}, nil},
		{nil, 4, 7, []EpochEntry{{4, 7}}, nil},
		{[]EpochEntry{{1, 0}}, 1, 10, []EpochEntry{{1, 0}}, nil},
		{[]EpochEntry{{1, 0}}, 2, 10, []EpochEntry{{1, 0}, {2, 10}}, nil},
		{[]EpochEntry{{1, 0}, {2, 10}}, 3, 10, []EpochEntry{{1, 0}, {3, 10}}, nil}, // epoch 2 never wrote
		{[]EpochEntry{{1, 0}, {2, 10}}, 1, 12, nil, kerr.FencedLeaderEpoch},
		{[]EpochEntry{{1, 0}}, -1, 12, nil, kerr.InvalidRecord},
	} {
		before := slices.Clone(c.es)
		got, err := leaderAssign(c.es, c.epoch, c.logEnd)
		if !errors.Is(err, c.err) || (c.err == nil && err != nil) || !slices.Equal(got, c.want) {
			t.Errorf("%v + leader epoch %d at %d: got %v, %v; want %v, %v", c.es, c.epoch, c.logEnd, got, err, c.want, c.err)
		}
		if !slices.Equal(c.es, before) {
			t.Errorf("leaderAssign modified its argument: %v became %v", before, c.es)
		}
	}
}

func TestFollowerAssign(t *testing.T) {
	for _, c := range []struct {
		es    []EpochEntry
		epoch int32
		base  int64
		want  []EpochEntry
	}{
		{nil, 0, 0, []EpochEntry{{0, 0}}},
		{[]EpochEntry{{1, 0}, {3, 10}}, 3, 20, []EpochEntry{{1, 0}, {3, 10}}},
		{[]EpochEntry{{1, 0}, {3, 10}}, 4, 20, []EpochEntry{{1, 0}, {3, 10}, {4, 20}}},
		{[]EpochEntry{{1, 0}}, 2, 25, []EpochEntry{{1, 0}, {2, 25}}}, // a gap from compaction
		{[]EpochEntry{{1, 0}}, -1, 5, []EpochEntry{{1, 0}}},          // unstamped batch
		// Epoch 5 began at the end with no record (this replica led
		// briefly); the leader's epoch 4 replaces it, its epoch 3 continues.
		{[]EpochEntry{{1, 0}, {3, 10}, {5, 20}}, 4, 20, []EpochEntry{{1, 0}, {3, 10}, {4, 20}}},
		{[]EpochEntry{{1, 0}, {3, 10}, {5, 20}}, 3, 20, []EpochEntry{{1, 0}, {3, 10}}},
		// The cache contradicts the leader (an unclean election): the
		// leader's epoch takes over, as in Kafka.
		{[]EpochEntry{{1, 0}, {3, 10}}, 2, 20, []EpochEntry{{1, 0}, {2, 20}}},
		{[]EpochEntry{{1, 0}, {3, 10}}, 1, 20, []EpochEntry{{1, 20}}},
	} {
		before := slices.Clone(c.es)
		if got := followerAssign(c.es, c.epoch, c.base); !slices.Equal(got, c.want) {
			t.Errorf("%v + follower batch of epoch %d at %d: got %v, want %v", c.es, c.epoch, c.base, got, c.want)
		}
		if !slices.Equal(c.es, before) {
			t.Errorf("followerAssign modified its argument: %v became %v", before, c.es)
		}
	}
}

func TestTruncateEpochs(t *testing.T) {
	es := []EpochEntry{{1, 0}, {3, 10}, {5, 20}}
	for _, c := range []struct {
		start int64
		want  []EpochEntry
	}{
		{0, es},
		{5, []EpochEntry{{1, 5}, {3, 10}, {5, 20}}},
		{10, []EpochEntry{{3, 10}, {5, 20}}},
		{15, []EpochEntry{{3, 15}, {5, 20}}},
		{20, []EpochEntry{{5, 20}}},
		{25, []EpochEntry{{5, 25}}},
	} {
		if got := truncateEpochsFromStart(es, c.start); !slices.Equal(got, c.want) {
			t.Errorf("from start at %d: got %v, want %v", c.start, got, c.want)
		}
	}
	if got := truncateEpochsFromStart([]EpochEntry{{3, 10}}, 5); !slices.Equal(got, []EpochEntry{{3, 10}}) {
		t.Errorf("from start below the first entry: got %v", got)
	}
	for _, c := range []struct {
		end  int64
		want []EpochEntry
	}{
		{0, []EpochEntry{}},
		{10, []EpochEntry{{1, 0}}},
		{20, []EpochEntry{{1, 0}, {3, 10}}},
		{21, es},
	} {
		if got := truncateEpochsFromEnd(es, c.end); !slices.Equal(got, c.want) {
			t.Errorf("from end at %d: got %v, want %v", c.end, got, c.want)
		}
	}
	if !slices.Equal(es, []EpochEntry{{1, 0}, {3, 10}, {5, 20}}) {
		t.Fatalf("truncation modified its argument: %v", es)
	}
}

func TestEpochCheckpointFormat(t *testing.T) {
	es := []EpochEntry{{0, 0}, {3, 17}, {2147483647, 1 << 40}}
	p := encodeEpochCheckpoint(es)
	if want := "0\n3\n0 0\n3 17\n2147483647 1099511627776\n"; string(p) != want {
		t.Fatalf("encoded %q, want %q", p, want)
	}
	got, err := decodeEpochCheckpoint(p)
	if err != nil || !slices.Equal(got, es) {
		t.Fatalf("decoded %v, %v", got, err)
	}
	if got, err := decodeEpochCheckpoint([]byte("0\n0\n")); err != nil || len(got) != 0 {
		t.Fatalf("empty checkpoint: %v, %v", got, err)
	}
	for n := range len(p) {
		if got, err := decodeEpochCheckpoint(p[:n]); !errors.Is(err, ErrCorruption) {
			t.Fatalf("torn checkpoint %q decoded to %v, %v", p[:n], got, err)
		}
	}
	for _, bad := range []string{
		"1\n0\n", "0\n1\n1\n", "0\n1\n1 2 3\n", "0\n1\n-1 0\n", "0\n1\n0 -1\n", "0\n1\n2147483648 0\n",
		"0\n2\n1 0\n1 5\n", "0\n2\n2 0\n1 5\n", "0\n2\n1 5\n2 5\n", "0\n2\n1 5\n2 4\n", "0\n1\nx 0\n",
	} {
		if got, err := decodeEpochCheckpoint([]byte(bad)); !errors.Is(err, ErrCorruption) {
			t.Errorf("%q decoded to %v, %v", bad, got, err)
		}
	}
}
