package logstore

import (
	"bytes"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"gregor/logstore/vfs"
)

// metamorphicOp is one operation of a metamorphic run.
type metamorphicOp struct {
	kind   int // 0 append, 1 truncate, 2 advance log start, 3 reopen
	batch  []byte
	offset int64
}

// metamorphicConfigs are settings that must not change what reads return.
func metamorphicConfigs() []struct {
	name  string
	cfg   Config
	cache bool
} {
	var out []struct {
		name  string
		cfg   Config
		cache bool
	}
	for _, seg := range []int64{1400, 4096, 1 << 20} {
		for _, interval := range []int64{0, 100, 4096} {
			for _, block := range []int64{4096, 65536} {
				for _, cache := range []bool{false, true} {
					c := DefaultConfig()
					c.SegmentBytes, c.IndexIntervalBytes, c.CacheBlockBytes = seg, interval, block
					out = append(out, struct {
						name  string
						cfg   Config
						cache bool
					}{fmt.Sprintf("seg=%d/interval=%d/block=%d/cache=%v", seg, interval, block, cache), c, cache})
				}
			}
		}
	}
	return out
}

// TestMetamorphicSettings replays one random sequence of operations under
// every combination of segment size, index interval, cache block size and
// cache on/off, and demands identical answers from every read.
func TestMetamorphicSettings(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var ops []metamorphicOp
		end := int64(0)
		for range rapid.IntRange(1, 40).Draw(t, "ops") {
			switch k := rapid.IntRange(0, 9).Draw(t, "kind"); {
			case k < 7:
				raw, ts := genBatch(t)
				ops = append(ops, metamorphicOp{kind: 0, batch: raw})
				end += int64(len(ts))
			case k == 7:
				ops = append(ops, metamorphicOp{kind: 1, offset: rapid.Int64Range(0, end).Draw(t, "truncate")})
			case k == 8:
				ops = append(ops, metamorphicOp{kind: 2, offset: rapid.Int64Range(0, end).Draw(t, "advance")})
			default:
				ops = append(ops, metamorphicOp{kind: 3})
			}
		}
		var reference string
		for _, c := range metamorphicConfigs() {
			got := runMetamorphic(t, ops, c.cfg, c.cache)
			if reference == "" {
				reference = got
			} else if got != reference {
				t.Fatalf("%s answers differently:\n%s\nreference:\n%s", c.name, got, reference)
			}
		}
	})
}

// runMetamorphic applies ops and renders every observable answer.
func runMetamorphic(t *rapid.T, ops []metamorphicOp, cfg Config, withCache bool) string {
	var cache BlockCache
	if withCache {
		cache = newMapCache()
	}
	mem := vfs.NewMem()
	l := openTestLog(t, mem, "/p", cfg, cache, 0)
	defer func() { _ = l.Close() }()
	for _, op := range ops {
		var err error
		switch op.kind {
		case 0:
			_, err = l.Append([][]byte{bytes.Clone(op.batch)}, 0, 0)
		case 1:
			err = l.Truncate(op.offset, 0)
		case 2:
			err = l.AdvanceLogStartOffset(min(op.offset, l.LogEndOffset()))
		case 3:
			if err = l.Close(); err == nil {
				l = openTestLog(t, mem, "/p", cfg, cache, 0)
			}
		}
		if err != nil {
			t.Fatalf("op %+v: %v", op.kind, err)
		}
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "offsets %d..%d\n", l.LogStartOffset(), l.LogEndOffset())
	for _, b := range readAllBatches(t, l, 1<<30) {
		fmt.Fprintf(&out, "batch %s\n", batchDigest(b))
	}
	for offset := l.LogStartOffset(); offset < l.LogEndOffset(); offset++ {
		recs, err := l.Read(offset, 1, l.LogEndOffset())
		if err != nil {
			t.Fatalf("read %d: %v", offset, err)
		}
		p, err := recs.Bytes()
		recs.Release()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "read %d: %d..%d %s\n", offset, recs.FirstOffset, recs.NextOffset, batchDigest(p))
	}
	for ts := int64(-1); ts <= 1001; ts += 37 {
		to, found, err := l.OffsetForTimestamp(ts)
		fmt.Fprintf(&out, "ts %d: %+v %v %v\n", ts, to, found, err)
	}
	to, found, err := l.OffsetOfMaxTimestamp()
	fmt.Fprintf(&out, "max ts: %+v %v %v\n", to, found, err)
	return out.String()
}
