package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Records franz-go's kadm deleted (DeleteRecords answered) stay deleted when
// the partition's leader is killed right after the answer: the leader answers
// only once its followers' log start offsets reached the offset, as Kafka's
// DelayedDeleteRecords, so the follower elected next does not serve them
// again. Three rounds, each killing the leader of the moment (and starting it
// again). Before the fix the leader answered as soon as its own log start
// moved, and the new leader's log started at the previous round's offset.
func TestDeleteRecordsSurviveLeaderKill(t *testing.T) {
	c := clusterUp(t, 3)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.bootstrap()...), kgo.DefaultProduceTopic("dr"), kgo.RecordPartitioner(kgo.ManualPartitioner()), freshMetadata)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 1, 3, nil, "dr"); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	leader := func() int32 {
		var id int32 = -1
		waitFor(t, 30*time.Second, "a leader of dr-0 with every replica in sync", func() bool {
			td, err := adm.ListTopics(ctx, "dr")
			if err != nil || td["dr"].Err != nil {
				return false
			}
			p := td["dr"].Partitions[0]
			id = p.Leader
			return id > 0 && len(p.ISR) == 3
		})
		return id
	}
	for _, at := range []int64{20, 40, 60} {
		l := leader()
		dr, err := adm.DeleteRecords(ctx, kadm.Offsets{"dr": {0: {Topic: "dr", Partition: 0, At: at}}})
		if err != nil || dr.Error() != nil {
			t.Fatalf("DeleteRecords to %d: %v %v", at, err, dr.Error())
		}
		if lw := dr["dr"][0].LowWatermark; lw < at {
			t.Fatalf("DeleteRecords to %d answered low watermark %d", at, lw)
		}
		c.killAll(t, int(l))
		waitFor(t, 30*time.Second, "another leader of dr-0", func() bool {
			td, err := adm.ListTopics(ctx, "dr")
			return err == nil && td["dr"].Err == nil && td["dr"].Partitions[0].Leader > 0 && td["dr"].Partitions[0].Leader != l
		})
		var start int64 = -1
		waitFor(t, 30*time.Second, "dr-0's log start offset from its new leader", func() bool {
			so, err := adm.ListStartOffsets(ctx, "dr")
			if err != nil || so.Error() != nil {
				return false
			}
			o, _ := so.Lookup("dr", 0)
			start = o.Offset
			return true
		})
		if start < at {
			t.Fatalf("after DeleteRecords to %d answered and node %d (the leader) killed, the new leader's log starts at %d: deleted records are back", at, l, start)
		}
		c.restart(int(l))
	}
}
