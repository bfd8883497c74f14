package cluster

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkFetchRound is one round of replication between a follower's
// fetcher and its leader, as far as the cores and the codec go: the fetcher
// builds its Fetch, the leader decodes it, decides its session, answers
// every partition it serves (one of them with 1 KiB of records), encodes the
// answer, and the fetcher decodes and takes it; the partition that got
// records publishes its next state. Of the 25 partitions (half of a
// three-node cluster's __transaction_state on one leader) one moves per
// round, which is what a follower of a transactional workload sees. The
// partition reads of the leader are not in it: they are the same with or
// without a session.
func BenchmarkFetchRound(b *testing.B) {
	for _, sessions := range []bool{false, true} {
		b.Run(fmt.Sprintf("partitions=25/sessions=%v", sessions), func(b *testing.B) {
			benchFetchRound(b, 25, sessions)
		})
	}
}

func benchFetchRound(b *testing.B, n int, sessions bool) {
	f := NewFetcher(FetcherConfig{NodeID: 2, Leader: 1, Sessions: sessions})
	next := int32(0)
	cache := NewFetchSessions(FetchSessionsConfig{Slots: 10}, func() int32 { next++; return next })
	parts := make([]FetcherPartition, n)
	seqs := make([]uint64, n)
	offsets := make([]int64, n)
	for i := range parts {
		parts[i] = FetcherPartition{Topic: "__transaction_state", TopicID: TopicID{1}, Partition: int32(i)}
		seqs[i] = 1
		f.SetPartition(parts[i], FollowerFetchState{Seq: 1, Leader: 1, Phase: FollowerFetching, CurrentLeaderEpoch: 1}, Instant{})
	}
	records := make([]byte, 1024)
	var reqBuf, respBuf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now := Instant{MonoMs: int64(i), WallMs: int64(i)}
		rd := f.Ready()
		if rd.Fetch == nil {
			b.Fatalf("round %d: no Fetch", i)
		}
		rd.Fetch.Version = 13
		reqBuf = rd.Fetch.AppendTo(reqBuf[:0])
		req := kmsg.NewPtrFetchRequest()
		req.Version = 13
		if err := req.ReadFrom(reqBuf); err != nil {
			b.Fatal(err)
		}
		ctx := cache.Begin(req, true, now.MonoMs)
		moving := int32(i % n)
		resp := kmsg.NewPtrFetchResponse()
		resp.Version, resp.SessionID = 13, ctx.SessionID
		var answers []FetchSessionAnswer
		for _, t := range ctx.Topics {
			for _, p := range t.Partitions {
				hw := offsets[p.Partition]
				if p.Partition == moving {
					hw++
				}
				answers = append(answers, FetchSessionAnswer{HighWatermark: hw, LastStableOffset: hw, Records: p.Partition == moving})
			}
		}
		keep := make([]bool, len(answers))
		for j := range keep {
			keep[j] = true
		}
		if ctx.SessionID != 0 {
			keep, _ = cache.Answer(&ctx, answers)
		}
		j := 0
		for _, t := range ctx.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				if keep[j] {
					rp := kmsg.NewFetchResponseTopicPartition()
					rp.Partition, rp.HighWatermark, rp.LastStableOffset = p.Partition, answers[j].HighWatermark, answers[j].LastStableOffset
					if answers[j].Records {
						rp.RecordBatches = records
					}
					rt.Partitions = append(rt.Partitions, rp)
				}
				j++
			}
			if len(rt.Partitions) > 0 {
				resp.Topics = append(resp.Topics, rt)
			}
		}
		respBuf = resp.AppendTo(respBuf[:0])
		got := kmsg.NewPtrFetchResponse()
		got.Version = 13
		if err := got.ReadFrom(respBuf); err != nil {
			b.Fatal(err)
		}
		f.FetchCompleted(got, nil, now)
		for _, o := range f.Ready().Outcomes {
			p := o.Partition.Partition
			if len(o.Fetch.Records) > 0 {
				offsets[p]++
			}
			seqs[p]++
			f.SetPartition(o.Partition, FollowerFetchState{Seq: seqs[p], Leader: 1, Phase: FollowerFetching, CurrentLeaderEpoch: 1,
				FetchOffset: offsets[p], LastFetchedEpoch: 1}, now)
		}
	}
}
