package cluster

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestOfflineReplicasScripts runs testdata/offline_replicas: a node's
// OfflineReplicas fed scripted failures and starts. Replicas are named by
// partition (of one topic); time is monotonic ms.
//
//	new [backoff=MS] [max=MS]
//	record p=N [leader=L] [epoch=E]
//	                  partition N's record names L leader (default 2: not
//	                  this node, 1) at leader epoch E (default 0)
//	offline T p=N     the replica of partition N went offline at T; prints
//	                  when it starts again
//	started T p=N     it started at T
//	removed p=N       the node no longer hosts it
//	due T             the replicas to start again at T (each then started
//	                  at T, if it may), and the next retry
//	dirs              how many directories a heartbeat reports offline
func TestOfflineReplicasScripts(t *testing.T) {
	datadriven.Walk(t, "testdata/offline_replicas", func(t *testing.T, path string) {
		var o *OfflineReplicas
		topic := TopicID{7}
		const node = 1
		records := map[int32]PartitionImage{}
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			var now int64
			if len(td.CmdArgs) > 0 && len(td.CmdArgs[0].Vals) == 0 {
				if _, err := fmt.Sscan(td.CmdArgs[0].Key, &now); err != nil {
					td.Fatalf(t, "time %q: %v", td.CmdArgs[0].Key, err)
				}
			}
			var p int32
			if td.HasArg("p") {
				td.ScanArgs(t, "p", &p)
			}
			id := OfflineReplicaID{TopicID: topic, Partition: p}
			var b strings.Builder
			switch td.Cmd {
			case "new":
				var opts OfflineReplicasOptions
				td.MaybeScanArgs(t, "backoff", &opts.RetryBackoffMs)
				td.MaybeScanArgs(t, "max", &opts.RetryBackoffMaxMs)
				o = NewOfflineReplicas(opts)
			case "record":
				rec := PartitionImage{Partition: p, Leader: 2}
				td.MaybeScanArgs(t, "leader", &rec.Leader)
				td.MaybeScanArgs(t, "epoch", &rec.LeaderEpoch)
				records[p] = rec
			case "offline":
				rec, ok := records[p]
				if !ok {
					rec = PartitionImage{Partition: p, Leader: 2}
				}
				fmt.Fprintf(&b, "p%d starts again at %d\n", p, o.WentOffline(id, now, rec, node))
			case "started":
				o.Started(id, now)
			case "removed":
				o.Removed(id)
			case "due":
				for _, d := range o.Due(now) {
					rec, ok := records[d.Partition]
					if !ok {
						rec = PartitionImage{Partition: d.Partition, Leader: 2}
					}
					if !o.MayStart(d, now, rec, node) {
						fmt.Fprintf(&b, "p%d waits: its record still names it leader in epoch %d\n", d.Partition, rec.LeaderEpoch)
						continue
					}
					fmt.Fprintf(&b, "start p%d\n", d.Partition)
					o.Started(d, now)
				}
				if at, ok := o.NextRetryMs(); ok {
					fmt.Fprintf(&b, "next retry at %d\n", at)
				} else {
					b.WriteString("no retry due\n")
				}
			case "dirs":
				fmt.Fprintf(&b, "%d offline\n", len(o.Directories()))
			default:
				td.Fatalf(t, "unknown command %q", td.Cmd)
			}
			return b.String()
		})
	})
}
