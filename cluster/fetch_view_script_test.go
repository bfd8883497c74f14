package cluster

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// fetchViewCmd runs the replica scripts' fetch view commands:
//
//	fetch-view
//	    prints the replica's FetchView
//	view-fetch offset=O [replica=N log-start=S broker-epoch=B last-epoch=L] [epoch=E] [committed] [now=MS]
//	    a fetch (a follower's with replica) answered from the view, or
//	    "through the replica"; now defaults to the harness's time
//	view-wakes offset=O [replica=N] [wait-past=W] [epoch=E] [committed]
//	    whether a parked fetch wakes for the view
func (h *replicaHarness) fetchViewCmd(t *testing.T, td *datadriven.TestData) string {
	var v FetchView
	h.r.FetchView(&v)
	if td.Cmd == "fetch-view" {
		return describeFetchView(&v)
	}
	p := FetchPartition{CurrentLeaderEpoch: -1, PartitionMaxBytes: 1 << 20}
	td.ScanArgs(t, "offset", &p.FetchOffset)
	td.MaybeScanArgs(t, "epoch", &p.CurrentLeaderEpoch)
	if td.HasArg("replica") {
		p.Follower = &FollowerFetch{FetchedAtMs: h.now.MonoMs, BrokerEpoch: -1, LastFetchedEpoch: -1}
		td.ScanArgs(t, "replica", &p.Follower.ReplicaID)
		td.MaybeScanArgs(t, "log-start", &p.Follower.LogStartOffset)
		td.MaybeScanArgs(t, "broker-epoch", &p.Follower.BrokerEpoch)
		td.MaybeScanArgs(t, "last-epoch", &p.Follower.LastFetchedEpoch)
	}
	if td.Cmd == "view-wakes" {
		var waitPast int64
		td.MaybeScanArgs(t, "wait-past", &waitPast)
		if v.Wakes(p, isolationArg(td), FetchWatch{WaitPast: waitPast}.WakesAbove(p.FetchOffset)) {
			return "wakes\n"
		}
		return "waits\n"
	}
	now := h.now.MonoMs
	td.MaybeScanArgs(t, "now", &now)
	rd, ok := v.ReadFromView(p, isolationArg(td), now)
	if !ok {
		return "through the replica\n"
	}
	return fmt.Sprintf("from view: hw=%d lso=%d log-start=%d\n", rd.HighWatermark, rd.LastStableOffset, rd.LogStartOffset)
}

func describeFetchView(v *FetchView) string {
	if !v.Leading {
		return fmt.Sprintf("not leading epoch=%d\n", v.LeaderEpoch)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "leading epoch=%d log-start=%d leo=%d hw=%d lso=%d latest-epoch=%d@%d prior-epoch=%d refresh=%d\n", v.LeaderEpoch, v.LogStartOffset,
		v.LogEndOffset, v.HighWatermark, v.LastStableOffset, v.LatestEpoch, v.LatestEpochStart, v.PriorEpoch, v.FollowerRefreshMs)
	for _, f := range v.Followers {
		fmt.Fprintf(&b, "follower %d: in-isr=%t leo=%d log-start=%d broker-epoch=%d fetched-at=%d\n", f.ReplicaID, f.InISR, f.LogEndOffset, f.LogStartOffset, f.BrokerEpoch, f.FetchedAtMs)
	}
	return b.String()
}

// TestFetchViewEqual: Equal tells views apart by every field and follower.
func TestFetchViewEqual(t *testing.T) {
	a := &FetchView{Leading: true, LeaderEpoch: 1, LogEndOffset: 5, Followers: []FollowerView{{ReplicaID: 2, LogEndOffset: 5}}}
	b := a.Clone()
	if !a.Equal(b) {
		t.Fatal("a clone differs")
	}
	b.Followers[0].FetchedAtMs = 7
	if a.Equal(b) || a.Followers[0].FetchedAtMs != 0 {
		t.Fatal("a clone shares its followers, or Equal misses a follower's field")
	}
	c := a.Clone()
	c.HighWatermark = 5
	if a.Equal(c) {
		t.Fatal("Equal misses the high watermark")
	}
	if a.Equal(nil) || !(*FetchView)(nil).Equal(nil) {
		t.Fatal("nil views")
	}
}
