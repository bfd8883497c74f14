package cluster

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestFetchScripts runs testdata/fetch: a Fetch core stepped command by
// command, printing its Ready after each step. Partitions are p0, p1, ... in
// request order; times are monotonic ms.
//
//	new min-bytes=N max-bytes=N deadline=MS
//	    input: one line per partition "pI offset=O [error=NAME] [follower]"
//	read-done T      input: "pI [bytes=N] [hw=H] [lso=L] [log-start=S] [read-up-to=U]
//	                 [error=NAME] [diverging=EPOCH:END]" per partition that read something
//	woken
//	woken-with-read T pI [bytes=N] [hw=H] [read-up-to=U] [error=NAME]
//	tick T
//	stop-waiting
//	state
func TestFetchScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/fetch", func(t *testing.T, path string) {
		var f *Fetch
		var last []PartitionRead
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			if td.Cmd != "new" && f == nil {
				td.Fatalf(t, "%s before new", td.Cmd)
			}
			switch td.Cmd {
			case "new":
				var cfg FetchConfig
				td.ScanArgs(t, "min-bytes", &cfg.MinBytes)
				td.ScanArgs(t, "max-bytes", &cfg.MaxBytes)
				td.ScanArgs(t, "deadline", &cfg.DeadlineMs)
				var targets []FetchTarget
				for _, line := range inputLines(td) {
					var tg FetchTarget
					i, fields := partitionLine(t, td, line)
					if i != len(targets) {
						td.Fatalf(t, "line %q: want p%d", line, len(targets))
					}
					tg.FetchOffset = fieldInt(t, td, fields, "offset", 0)
					if name, ok := fields["error"]; ok {
						tg.ErrorCode = errCode(t, td, name)
					}
					if _, ok := fields["follower"]; ok {
						tg.Follower = &FollowerFetch{ReplicaID: 2}
					}
					targets = append(targets, tg)
				}
				f = NewFetch(cfg, targets)
				last = make([]PartitionRead, len(targets))
			case "read-done":
				reads := make([]PartitionRead, len(last))
				for _, line := range inputLines(td) {
					i, fields := partitionLine(t, td, line)
					reads[i] = partitionRead(t, td, fields)
				}
				copy(last, reads)
				f.ReadCompleted(reads, Instant{MonoMs: cmdTime(t, td)})
			case "woken":
				f.Woken()
			case "woken-with-read":
				if len(td.CmdArgs) < 2 {
					td.Fatalf(t, "woken-with-read T pI ...")
				}
				i, err := strconv.Atoi(strings.TrimPrefix(td.CmdArgs[1].Key, "p"))
				if err != nil {
					td.Fatalf(t, "partition %q", td.CmdArgs[1].Key)
				}
				fields := map[string]string{}
				for _, a := range td.CmdArgs[2:] {
					fields[a.Key] = a.Vals[0]
				}
				read := partitionRead(t, td, fields)
				if !f.WokenWithRead(i, read, Instant{MonoMs: cmdTime(t, td)}) {
					return "ignored: the records are released\n"
				}
				last[i] = read
			case "tick":
				f.Tick(Instant{MonoMs: cmdTime(t, td)})
			case "stop-waiting":
				f.StopWaiting()
			case "connection-closed":
				f.ConnectionClosed()
			case "state":
				next := "none"
				if d := f.NextDeadlineMs(); d != math.MaxInt64 {
					next = fmt.Sprint(d)
				}
				return fmt.Sprintf("answered=%t next-deadline=%s\n", f.Answered(), next)
			default:
				td.Fatalf(t, "unknown command %q", td.Cmd)
			}
			return printFetchReady(f.Ready(), last)
		})
	})
}

func printFetchReady(rd FetchReady, last []PartitionRead) string {
	var b strings.Builder
	if rd.Read {
		b.WriteString("read\n")
	}
	if rd.Dropped {
		b.WriteString("dropped\n")
	}
	for _, w := range rd.Watches {
		fmt.Fprintf(&b, "watch p%d offset=%d deadline=%d read-on-wake=%t", w.Index, w.FetchOffset, w.DeadlineMs, w.ReadOnWake)
		if w.WaitPast > 0 {
			fmt.Fprintf(&b, " wait-past=%d", w.WaitPast)
		}
		b.WriteString("\n")
	}
	if rd.Answer != nil {
		b.WriteString("answer\n")
		for i, pa := range rd.Answer.Partitions {
			recs := "none"
			switch {
			case pa.IncludeRecords:
				recs = fmt.Sprintf("%d bytes", last[i].RecordsBytes)
			case last[i].RecordsBytes > 0:
				recs = fmt.Sprintf("left out (%d bytes released)", last[i].RecordsBytes)
			}
			div := ""
			if d := pa.Diverging; d != nil {
				div = fmt.Sprintf(" diverging=%d:%d", d.Epoch, d.EndOffset)
			}
			fmt.Fprintf(&b, "  p%d error=%s hw=%d lso=%d log-start=%d records=%s%s\n", i, errName(pa.ErrorCode), pa.HighWatermark, pa.LastStableOffset, pa.LogStartOffset, recs, div)
		}
	}
	return b.String()
}

func inputLines(td *datadriven.TestData) []string {
	if strings.TrimSpace(td.Input) == "" {
		return nil
	}
	return strings.Split(td.Input, "\n")
}

// partitionLine parses "pI k=v ...".
func partitionLine(t *testing.T, td *datadriven.TestData, line string) (int, map[string]string) {
	words := strings.Fields(line)
	if len(words) == 0 || !strings.HasPrefix(words[0], "p") {
		td.Fatalf(t, "line %q: want pI first", line)
	}
	i, err := strconv.Atoi(words[0][1:])
	if err != nil {
		td.Fatalf(t, "line %q: %v", line, err)
	}
	fields := map[string]string{}
	for _, w := range words[1:] {
		k, v, _ := strings.Cut(w, "=")
		fields[k] = v
	}
	return i, fields
}

func fieldInt(t *testing.T, td *datadriven.TestData, fields map[string]string, key string, def int64) int64 {
	v, ok := fields[key]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		td.Fatalf(t, "%s=%q: %v", key, v, err)
	}
	return n
}

func partitionRead(t *testing.T, td *datadriven.TestData, fields map[string]string) PartitionRead {
	r := PartitionRead{RecordsBytes: fieldInt(t, td, fields, "bytes", 0), HighWatermark: fieldInt(t, td, fields, "hw", 0),
		LogStartOffset: fieldInt(t, td, fields, "log-start", 0), ReadUpTo: fieldInt(t, td, fields, "read-up-to", 0)}
	r.LastStableOffset = fieldInt(t, td, fields, "lso", r.HighWatermark)
	if name, ok := fields["error"]; ok {
		r.ErrorCode = errCode(t, td, name)
	}
	if d, ok := fields["diverging"]; ok {
		epoch, end, _ := strings.Cut(d, ":")
		e, err1 := strconv.ParseInt(epoch, 10, 32)
		o, err2 := strconv.ParseInt(end, 10, 64)
		if err1 != nil || err2 != nil {
			td.Fatalf(t, "diverging=%q: want EPOCH:END", d)
		}
		r.Diverging = &DivergingEpoch{Epoch: int32(e), EndOffset: o}
	}
	return r
}

// cmdTime is the command's first bare argument as a time.
func cmdTime(t *testing.T, td *datadriven.TestData) int64 {
	if len(td.CmdArgs) == 0 {
		td.Fatalf(t, "%s needs a time", td.Cmd)
	}
	n, err := strconv.ParseInt(td.CmdArgs[0].Key, 10, 64)
	if err != nil {
		td.Fatalf(t, "%s time: %v", td.Cmd, err)
	}
	return n
}
