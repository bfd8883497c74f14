package cluster

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestFetcherScripts runs testdata/fetcher: a fetcher core fed partition
// states and scripted answers, printing the requests it builds and the
// outcomes it hands to the partitions. Partitions are named TOPIC-N; topic
// t has id 1, u has id 2. Time is one number.
//
//	new [leader=L] [node=N] [backoff=MS] [max-wait=MS] [unknown-topic-backoff=MS] [prompt-gap=MS] [sessions]
//	set P seq=S (fetching|truncating|idle) [leader=L] [epoch=E] [offset=O] [log-start=S] [last-epoch=E] [backoff]
//	remove P
//	fetch-response [failed|error=NAME] [by-name] [session=ID]
//	P [error=NAME] [hw=H] [log-start=S] [records=(BASE:COUNT@EPOCH,..)] [diverging=(E,O)]
//	...
//	epochs-response [failed]
//	P [error=NAME] epoch=E end=O
//	...
//	tick T
//	state
func TestFetcherScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/fetcher", func(t *testing.T, path string) {
		h := &fetcherHarness{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			return h.run(t, td)
		})
	})
}

type fetcherHarness struct {
	f   *Fetcher
	now Instant
}

// fetcherPartitionArg reads a partition name TOPIC-N.
func fetcherPartitionArg(t *testing.T, td *datadriven.TestData, name string) FetcherPartition {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		td.Fatalf(t, "partition %q: want TOPIC-N", name)
	}
	p := FetcherPartition{Topic: name[:i]}
	if _, err := fmt.Sscan(name[i+1:], &p.Partition); err != nil {
		td.Fatalf(t, "partition %q: %v", name, err)
	}
	p.TopicID[15] = map[string]byte{"t": 1, "u": 2}[p.Topic]
	return p
}

func (h *fetcherHarness) run(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd != "new" && h.f == nil {
		td.Fatalf(t, "%s before new", td.Cmd)
	}
	switch td.Cmd {
	case "new":
		cfg := FetcherConfig{NodeID: 1, Leader: 2, BrokerEpoch: 7}
		td.MaybeScanArgs(t, "leader", &cfg.Leader)
		td.MaybeScanArgs(t, "node", &cfg.NodeID)
		td.MaybeScanArgs(t, "backoff", &cfg.BackoffMs)
		td.MaybeScanArgs(t, "max-wait", &cfg.MaxWaitMs)
		td.MaybeScanArgs(t, "unknown-topic-backoff", &cfg.UnknownTopicBackoffMs)
		td.MaybeScanArgs(t, "prompt-gap", &cfg.PromptFetchGapMs)
		cfg.Sessions = td.HasArg("sessions")
		h.f = NewFetcher(cfg)
	case "set":
		p := fetcherPartitionArg(t, td, td.CmdArgs[0].Key)
		st := FollowerFetchState{Leader: 2, LastFetchedEpoch: -1}
		td.ScanArgs(t, "seq", &st.Seq)
		switch {
		case td.HasArg("fetching"):
			st.Phase = FollowerFetching
		case td.HasArg("truncating"):
			st.Phase = FollowerTruncating
		}
		td.MaybeScanArgs(t, "leader", &st.Leader)
		td.MaybeScanArgs(t, "epoch", &st.CurrentLeaderEpoch)
		td.MaybeScanArgs(t, "offset", &st.FetchOffset)
		td.MaybeScanArgs(t, "log-start", &st.LogStartOffset)
		td.MaybeScanArgs(t, "last-epoch", &st.LastFetchedEpoch)
		st.Backoff = td.HasArg("backoff")
		h.f.SetPartition(p, st, h.now)
	case "remove":
		h.f.RemovePartition(fetcherPartitionArg(t, td, td.CmdArgs[0].Key))
	case "fetch-response":
		h.fetchResponse(t, td)
	case "epochs-response":
		h.epochsResponse(t, td)
	case "tick":
		ms := cmdTime(t, td)
		h.now = Instant{WallMs: ms, MonoMs: ms}
		h.f.Tick(h.now)
	case "state":
		next := "none"
		if d := h.f.NextDeadlineMs(); d != math.MaxInt64 {
			next = fmt.Sprint(d)
		}
		return fmt.Sprintf("partitions=%d next-deadline=%s\n", h.f.Partitions(), next)
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	return h.ready()
}

func (h *fetcherHarness) fetchResponse(t *testing.T, td *datadriven.TestData) {
	if td.HasArg("failed") {
		h.f.FetchCompleted(nil, fmt.Errorf("read tcp: connection reset by peer"), h.now)
		return
	}
	resp := kmsg.NewPtrFetchResponse()
	var name string
	if td.MaybeScanArgs(t, "error", &name); name != "" {
		resp.ErrorCode = errCode(t, td, name)
	}
	td.MaybeScanArgs(t, "session", &resp.SessionID)
	for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
		if line == "" {
			continue
		}
		ptd := fetcherInputLine(t, td, line)
		p := fetcherPartitionArg(t, td, ptd.Cmd)
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition = p.Partition
		var code string
		if ptd.MaybeScanArgs(t, "error", &code); code != "" {
			rp.ErrorCode = errCode(t, td, code)
		}
		ptd.MaybeScanArgs(t, "hw", &rp.HighWatermark)
		ptd.MaybeScanArgs(t, "log-start", &rp.LogStartOffset)
		if d, ok := argInt32s(t, ptd, "diverging"); ok {
			rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = d[0], int64(d[1])
		}
		for _, b := range (&followerHarness{}).batchesArg(t, ptd, "records") {
			rp.RecordBatches = append(rp.RecordBatches, b...)
		}
		topic := kmsg.NewFetchResponseTopic()
		if td.HasArg("by-name") {
			topic.Topic = p.Topic
		} else {
			topic.TopicID = p.TopicID
		}
		topic.Partitions = []kmsg.FetchResponseTopicPartition{rp}
		resp.Topics = append(resp.Topics, topic)
	}
	h.f.FetchCompleted(resp, nil, h.now)
}

func (h *fetcherHarness) epochsResponse(t *testing.T, td *datadriven.TestData) {
	if td.HasArg("failed") {
		h.f.EpochEndOffsetsCompleted(nil, fmt.Errorf("request timed out"), h.now)
		return
	}
	resp := kmsg.NewPtrOffsetForLeaderEpochResponse()
	for _, line := range strings.Split(strings.TrimSpace(td.Input), "\n") {
		if line == "" {
			continue
		}
		ptd := fetcherInputLine(t, td, line)
		p := fetcherPartitionArg(t, td, ptd.Cmd)
		rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
		rp.Partition = p.Partition
		var code string
		if ptd.MaybeScanArgs(t, "error", &code); code != "" {
			rp.ErrorCode = errCode(t, td, code)
		}
		ptd.MaybeScanArgs(t, "epoch", &rp.LeaderEpoch)
		ptd.MaybeScanArgs(t, "end", &rp.EndOffset)
		topic := kmsg.NewOffsetForLeaderEpochResponseTopic()
		topic.Topic, topic.Partitions = p.Topic, []kmsg.OffsetForLeaderEpochResponseTopicPartition{rp}
		resp.Topics = append(resp.Topics, topic)
	}
	h.f.EpochEndOffsetsCompleted(resp, nil, h.now)
}

// fetcherInputLine parses one input line as a datadriven command with arguments.
func fetcherInputLine(t *testing.T, td *datadriven.TestData, line string) *datadriven.TestData {
	cmd, args, err := datadriven.ParseLine(line)
	if err != nil {
		td.Fatalf(t, "%q: %v", line, err)
	}
	return &datadriven.TestData{Pos: td.Pos, Cmd: cmd, CmdArgs: args}
}

// ready prints the fetcher's requests and outcomes.
func (h *fetcherHarness) ready() string {
	rd := h.f.Ready()
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	if rd.AbandonFetch {
		p("abandon fetch")
	}
	if r := rd.Fetch; r != nil {
		p("fetch replica=%d broker-epoch=%d max-wait=%d min-bytes=%d max-bytes=%d session=%d/%d",
			r.ReplicaState.ID, r.ReplicaState.Epoch, r.MaxWaitMillis, r.MinBytes, r.MaxBytes, r.SessionID, r.SessionEpoch)
		for _, tp := range r.Topics {
			for _, pp := range tp.Partitions {
				p("  %s-%d id=%d offset=%d epoch=%d last-fetched-epoch=%d log-start=%d max-bytes=%d", tp.Topic, pp.Partition, tp.TopicID[15],
					pp.FetchOffset, pp.CurrentLeaderEpoch, pp.LastFetchedEpoch, pp.LogStartOffset, pp.PartitionMaxBytes)
			}
		}
		for _, ft := range r.ForgottenTopics {
			for _, pp := range ft.Partitions {
				p("  forget %s-%d id=%d", ft.Topic, pp, ft.TopicID[15])
			}
		}
	}
	if r := rd.OffsetForLeaderEpoch; r != nil {
		p("offset-for-leader-epoch replica=%d", r.ReplicaID)
		for _, tp := range r.Topics {
			for _, pp := range tp.Partitions {
				p("  %s-%d epoch=%d current=%d", tp.Topic, pp.Partition, pp.LeaderEpoch, pp.CurrentLeaderEpoch)
			}
		}
	}
	for _, o := range rd.Outcomes {
		name := fmt.Sprintf("%s-%d", o.Partition.Topic, o.Partition.Partition)
		if f := o.Fetch; f != nil {
			recs := "none"
			if len(f.Records) > 0 {
				bs, _ := splitFetched(f.Records, 0)
				recs = batchesLine(bs)
			}
			line := fmt.Sprintf("outcome %s fetched seq=%d error=%s hw=%d log-start=%d records=%s", name, f.Seq, errName(f.ErrorCode), f.HighWatermark, f.LogStartOffset, recs)
			if f.DivergingEpoch >= 0 {
				line += fmt.Sprintf(" diverging=%d:%d", f.DivergingEpoch, f.DivergingEndOffset)
			}
			p("%s", line)
		}
		if e := o.EpochEnd; e != nil {
			p("outcome %s epoch-end seq=%d error=%s epoch=%d end=%d", name, e.Seq, errName(e.ErrorCode), e.LeaderEpoch, e.EndOffset)
		}
	}
	return b.String()
}

// TestFetcherRequestsEncode checks the fetcher's requests survive Kafka's
// encoding at the versions a leader may pin: Fetch before topic ids (v12),
// with them (v13+, v17) and with the replica state (v15+); OffsetForLeaderEpoch
// v3 and v4.
func TestFetcherRequestsEncode(t *testing.T) {
	f := NewFetcher(FetcherConfig{NodeID: 3, Leader: 1, BrokerEpoch: 42})
	p := FetcherPartition{Topic: "orders", TopicID: TopicID{9}, Partition: 4}
	f.SetPartition(p, FollowerFetchState{Seq: 1, Leader: 1, CurrentLeaderEpoch: 5, Phase: FollowerFetching, FetchOffset: 100, LogStartOffset: 10, LastFetchedEpoch: 4}, Instant{})
	q := FetcherPartition{Topic: "orders", TopicID: TopicID{9}, Partition: 5}
	f.SetPartition(q, FollowerFetchState{Seq: 1, Leader: 1, CurrentLeaderEpoch: 5, Phase: FollowerTruncating, FetchOffset: 7, LastFetchedEpoch: 3}, Instant{})
	rd := f.Ready()
	for _, v := range []int16{12, 13, 15, 17} {
		req := *rd.Fetch
		req.Version = v
		back := kmsg.NewPtrFetchRequest()
		back.Version = v
		if err := back.ReadFrom(req.AppendTo(nil)); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		id := back.ReplicaID
		if v >= 15 {
			id = back.ReplicaState.ID
		}
		tp := back.Topics[0]
		pp := tp.Partitions[0]
		if id != 3 || pp.Partition != 4 || pp.FetchOffset != 100 || pp.CurrentLeaderEpoch != 5 || pp.LastFetchedEpoch != 4 || pp.LogStartOffset != 10 ||
			(v < 13 && tp.Topic != "orders") || (v >= 13 && tp.TopicID != p.TopicID) || (v >= 15 && back.ReplicaState.Epoch != 42) {
			t.Fatalf("v%d: decoded %+v", v, back)
		}
	}
	for _, v := range []int16{3, 4} {
		req := *rd.OffsetForLeaderEpoch
		req.Version = v
		back := kmsg.NewPtrOffsetForLeaderEpochRequest()
		back.Version = v
		if err := back.ReadFrom(req.AppendTo(nil)); err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		pp := back.Topics[0].Partitions[0]
		if back.ReplicaID != 3 || back.Topics[0].Topic != "orders" || pp.Partition != 5 || pp.LeaderEpoch != 3 || pp.CurrentLeaderEpoch != 5 {
			t.Fatalf("v%d: decoded %+v", v, back)
		}
	}
}
