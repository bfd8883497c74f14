package cluster

import (
	"testing"

	"pgregory.net/rapid"
)

// TestFetchProperties drives a Fetch with random reads, wake-ups, ticks and a
// stop: it answers exactly once, never before min_bytes, an error, the
// deadline or the stop; it asks for a read only while waiting for none; the
// first partition with records is always in the answer, and the others fit
// max_bytes; and it always answers once its deadline passed and a read came.
func TestFetchProperties(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(1, 5).Draw(rt, "partitions")
		targets := make([]FetchTarget, n)
		routed := 0
		for i := range targets {
			if rapid.IntRange(0, 4).Draw(rt, "unrouted") == 0 {
				targets[i].ErrorCode = 3
			} else {
				routed++
			}
		}
		cfg := FetchConfig{MinBytes: rapid.Int32Range(0, 300).Draw(rt, "min"), MaxBytes: rapid.Int32Range(0, 400).Draw(rt, "max"), DeadlineMs: 500}
		f := NewFetch(cfg, targets)
		var mono int64
		answers, reading, stopped := 0, false, false
		var last []PartitionRead
		take := func() {
			rd := f.Ready()
			if answers > 0 && (rd.Read || len(rd.Watches) > 0 || rd.Answer != nil) {
				rt.Fatalf("effects after the answer: %+v", rd)
			}
			if rd.Read {
				if reading || routed == 0 {
					rt.Fatal("a second read while one is out, or a read of nothing")
				}
				reading = true
			}
			if len(rd.Watches) > 0 && len(rd.Watches) != routed {
				rt.Fatalf("%d watches for %d routed partitions", len(rd.Watches), routed)
			}
			if rd.Answer == nil {
				return
			}
			answers++
			checkAnswer(rt, cfg, targets, last, rd.Answer, mono, stopped)
		}
		take()
		for step := 0; step < 40 && answers == 0; step++ {
			switch rapid.IntRange(0, 4).Draw(rt, "op") {
			case 0:
				if reading {
					last = make([]PartitionRead, n)
					for i := range last {
						last[i].RecordsBytes = rapid.Int64Range(0, 200).Draw(rt, "bytes")
						if rapid.IntRange(0, 9).Draw(rt, "error") == 0 {
							last[i].ErrorCode = 1
						}
					}
					reading = false
					f.ReadCompleted(last, Instant{MonoMs: mono})
				}
			case 1:
				f.Woken()
			case 2:
				i := rapid.IntRange(0, n-1).Draw(rt, "index")
				read := PartitionRead{RecordsBytes: rapid.Int64Range(0, 200).Draw(rt, "bytes")}
				if routed == 1 && targets[i].ErrorCode == 0 && f.WokenWithRead(i, read, Instant{MonoMs: mono}) {
					last = append([]PartitionRead(nil), last...)
					last[i] = read
				}
			case 3:
				mono += rapid.Int64Range(0, 300).Draw(rt, "advance")
				f.Tick(Instant{MonoMs: mono})
			case 4:
				stopped = true
				f.StopWaiting()
			}
			take()
		}
		// Past the deadline, a read completes: the answer comes.
		mono += 1000
		f.Tick(Instant{MonoMs: mono})
		take()
		if reading {
			reading = false
			last = make([]PartitionRead, n)
			f.ReadCompleted(last, Instant{MonoMs: mono})
			take()
		}
		if answers != 1 || !f.Answered() {
			rt.Fatalf("%d answers", answers)
		}
	})
}

func checkAnswer(rt *rapid.T, cfg FetchConfig, targets []FetchTarget, last []PartitionRead, ans *FetchAnswer, mono int64, stopped bool) {
	var total int64
	failed := false
	for i, tg := range targets {
		if tg.ErrorCode == 0 && last != nil {
			total += last[i].RecordsBytes
			failed = failed || last[i].ErrorCode != 0
		}
	}
	routed := last != nil
	if routed && !failed && total < int64(cfg.MinBytes) && mono < cfg.DeadlineMs && !stopped {
		rt.Fatalf("answered with %d of min_bytes %d before the deadline", total, cfg.MinBytes)
	}
	budget := int64(cfg.MaxBytes)
	if budget <= 0 {
		budget = 1 << 31
	}
	first := true
	for i, pa := range ans.Partitions {
		if targets[i].ErrorCode != 0 {
			if pa.ErrorCode != targets[i].ErrorCode || pa.IncludeRecords {
				rt.Fatalf("unrouted partition %d answered %+v", i, pa)
			}
			continue
		}
		size := last[i].RecordsBytes
		switch {
		case size == 0 && pa.IncludeRecords:
			rt.Fatalf("partition %d includes no records", i)
		case size > 0 && first && !pa.IncludeRecords:
			rt.Fatalf("the first partition with records (%d) is left out", i)
		case pa.IncludeRecords && !first && size > budget:
			rt.Fatalf("partition %d of %d bytes included over the budget %d", i, size, budget)
		}
		if pa.IncludeRecords {
			budget -= size
			first = false
		}
	}
}
