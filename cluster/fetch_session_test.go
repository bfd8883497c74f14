package cluster

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetchSessionScripts runs testdata/fetch_session: a session cache fed
// Fetch requests and the answers to them, printing what it decided.
// Partitions are named TOPIC-N; topic t has id 1, u has id 2. Session ids
// are drawn from ids= (in order), else 1, 2, 3, ...
//
//	new slots=N [eviction=MS] [ids=(I,..)]
//	fetch as=NAME [session=ID] epoch=E [v=V] [replica] [t=MS]
//	TOPIC-N offset=O          a partition the request lists
//	forget TOPIC-N            a forgotten partition
//	answer NAME
//	TOPIC-N [hw=H] [lso=L] [log-start=S] [records] [error=NAME] [diverging]
//	                          one line per partition served, in order
//	state
func TestFetchSessionScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/fetch_session", func(t *testing.T, path string) {
		var s *FetchSessions
		ctxs := map[string]*FetchSessionContext{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			switch td.Cmd {
			case "new":
				var cfg FetchSessionsConfig
				td.ScanArgs(t, "slots", &cfg.Slots)
				td.MaybeScanArgs(t, "eviction", &cfg.EvictionMs)
				var ids []int
				if td.HasArg("ids") {
					td.ScanArgs(t, "ids", &ids)
				}
				next := int32(0)
				s = NewFetchSessions(cfg, func() int32 {
					if len(ids) > 0 {
						id := ids[0]
						ids = ids[1:]
						return int32(id)
					}
					next++
					return next
				})
				return ""
			case "fetch":
				req := kmsg.NewPtrFetchRequest()
				req.Version = 13
				var v, nowMs int64
				if td.MaybeScanArgs(t, "v", &v); v > 0 {
					req.Version = int16(v)
				}
				td.MaybeScanArgs(t, "session", &req.SessionID)
				td.ScanArgs(t, "epoch", &req.SessionEpoch)
				td.MaybeScanArgs(t, "t", &nowMs)
				var name string
				td.ScanArgs(t, "as", &name)
				for _, line := range inputLines(td) {
					ltd := fetcherInputLine(t, td, line)
					if ltd.Cmd == "forget" {
						p := fetcherPartitionArg(t, td, ltd.CmdArgs[0].Key)
						ft := kmsg.NewFetchRequestForgottenTopic()
						ft.Topic, ft.TopicID, ft.Partitions = p.Topic, p.TopicID, []int32{p.Partition}
						req.ForgottenTopics = append(req.ForgottenTopics, ft)
						continue
					}
					p := fetcherPartitionArg(t, td, ltd.Cmd)
					rp := kmsg.NewFetchRequestTopicPartition()
					rp.Partition = p.Partition
					ltd.MaybeScanArgs(t, "offset", &rp.FetchOffset)
					tp := kmsg.NewFetchRequestTopic()
					tp.Topic, tp.TopicID, tp.Partitions = p.Topic, p.TopicID, []kmsg.FetchRequestTopicPartition{rp}
					req.Topics = append(req.Topics, tp)
				}
				ctx := s.Begin(req, td.HasArg("replica"), nowMs)
				ctxs[name] = &ctx
				return printSessionContext(&ctx)
			case "answer":
				ctx := ctxs[td.CmdArgs[0].Key]
				if ctx == nil {
					td.Fatalf(t, "no fetch %q", td.CmdArgs[0].Key)
				}
				var answers []FetchSessionAnswer
				var names []string
				for _, line := range inputLines(td) {
					ltd := fetcherInputLine(t, td, line)
					var a FetchSessionAnswer
					ltd.MaybeScanArgs(t, "hw", &a.HighWatermark)
					ltd.MaybeScanArgs(t, "lso", &a.LastStableOffset)
					ltd.MaybeScanArgs(t, "log-start", &a.LogStartOffset)
					a.Records, a.Diverging = ltd.HasArg("records"), ltd.HasArg("diverging")
					var code string
					if ltd.MaybeScanArgs(t, "error", &code); code != "" {
						a.ErrorCode = errCode(t, td, code)
					}
					answers = append(answers, a)
					names = append(names, ltd.Cmd)
				}
				keep, code := s.Answer(ctx, answers)
				if code != 0 {
					return fmt.Sprintf("error=%s\n", errName(code))
				}
				var b strings.Builder
				for i, k := range keep {
					if k {
						fmt.Fprintf(&b, "carries %s\n", names[i])
					}
				}
				if b.Len() == 0 {
					return "carries nothing\n"
				}
				return b.String()
			case "state":
				var b strings.Builder
				ids := make([]int32, 0, len(s.sessions))
				for id := range s.sessions {
					ids = append(ids, id)
				}
				slices.Sort(ids)
				for _, id := range ids {
					sess := s.sessions[id]
					fmt.Fprintf(&b, "session %d epoch=%d replica=%v last-used=%d:", id, sess.epoch, sess.replica, sess.lastUsed)
					for _, sp := range sess.order {
						fmt.Fprintf(&b, " %s-%d@%d", sessionTopicName(sp.topicID), sp.req.Partition, sp.req.FetchOffset)
					}
					b.WriteString("\n")
				}
				if b.Len() == 0 {
					return "no sessions\n"
				}
				return b.String()
			}
			td.Fatalf(t, "unknown command %q", td.Cmd)
			return ""
		})
	})
}

func sessionTopicName(id TopicID) string {
	return map[byte]string{1: "t", 2: "u"}[id[15]]
}

func printSessionContext(ctx *FetchSessionContext) string {
	if ctx.ErrorCode != 0 {
		return fmt.Sprintf("error=%s\n", errName(ctx.ErrorCode))
	}
	var b strings.Builder
	kind := "full"
	if ctx.Incremental() {
		kind = "incremental"
	}
	fmt.Fprintf(&b, "%s session=%d\n", kind, ctx.SessionID)
	i := 0
	for _, t := range ctx.Topics {
		for _, rp := range t.Partitions {
			line := fmt.Sprintf("  serve %s-%d offset=%d", sessionTopicName(t.TopicID), rp.Partition, rp.FetchOffset)
			if i < len(ctx.listed) && ctx.listed[i] {
				line += " listed"
			}
			b.WriteString(line + "\n")
			i++
		}
	}
	return b.String()
}
