package actors

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// etlMember is one member of an ETL stage's group: it reads the stage's
// topic, writes each record to the next, marks it and commits what it
// marked when its partitions are revoked.
type etlMember struct {
	cl   *kgo.Client
	stop chan struct{}
	done chan struct{}
}

// etlChecker records which member processed which offset in which
// generation: an offset processed twice in one generation is a bug.
type etlChecker struct {
	mu   sync.Mutex
	seen map[string]bool
	errs []string
}

func (c *etlChecker) processed(stage int, r *kgo.Record, gen int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := fmt.Sprintf("%d/%s/%d/%d@%d", stage, r.Topic, r.Partition, r.Offset, gen)
	if c.seen[key] {
		c.errs = append(c.errs, "saw double offset "+key)
	}
	c.seen[key] = true
}

func startETLMember(t *testing.T, ctx context.Context, n *Node, stage int, check *etlChecker) *etlMember {
	in, out := fmt.Sprint("etl-", stage), fmt.Sprint("etl-", stage+1)
	m := &etlMember{stop: make(chan struct{}), done: make(chan struct{})}
	cl := newClient(t, n, kgo.ConsumerGroup(fmt.Sprint("etl-group-", stage)), kgo.ConsumeTopics(in),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic(out),
		kgo.BlockRebalanceOnPoll(), kgo.AutoCommitMarks(), kgo.HeartbeatInterval(100*time.Millisecond),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				t.Logf("stage %d: commit on revoke: %v", stage, err)
			}
		}))
	m.cl = cl
	go func() {
		defer close(m.done)
		for {
			select {
			case <-m.stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			fs := cl.PollRecords(pctx, 200)
			cancel()
			_, gen := cl.GroupMetadata()
			var outRecs []*kgo.Record
			fs.EachRecord(func(r *kgo.Record) {
				check.processed(stage, r, gen)
				outRecs = append(outRecs, &kgo.Record{Key: r.Key, Value: r.Value})
			})
			if len(outRecs) > 0 {
				if err := cl.ProduceSync(ctx, outRecs...).FirstErr(); err != nil {
					t.Errorf("stage %d: produce: %v", stage, err)
				}
				cl.MarkCommitRecords(fs.Records()...)
			}
			cl.AllowRebalance()
		}
	}()
	return m
}

func (m *etlMember) close() {
	close(m.stop)
	<-m.done
	m.cl.Close()
}

// An ETL chain under churn: three groups, each reading one topic and
// writing the next, with members joining and leaving at random and
// committing on revocation. Every record reaches the end, and no group
// processes an offset twice within one generation.
func TestGroupETLUnderChurn(t *testing.T) {
	const stages, records, partitions = 3, 3000, 6
	n := startGroupNode(t)
	ctx := testContext(t, 120*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	for s := 0; s <= stages; s++ {
		if _, err := adm.CreateTopic(ctx, partitions, 1, nil, fmt.Sprint("etl-", s)); err != nil {
			t.Fatal(err)
		}
	}
	produceN(t, ctx, n, "etl-0", 0, records)
	check := &etlChecker{seen: map[string]bool{}}
	members := make([][]*etlMember, stages)
	for s := range members {
		members[s] = append(members[s], startETLMember(t, ctx, n, s, check))
	}
	rng := rand.New(rand.NewPCG(7, 11))
	churnUntil := time.Now().Add(6 * time.Second)
	for time.Now().Before(churnUntil) {
		s := rng.IntN(stages)
		switch {
		case len(members[s]) < 4 && (len(members[s]) == 1 || rng.IntN(2) == 0):
			members[s] = append(members[s], startETLMember(t, ctx, n, s, check))
		default:
			i := rng.IntN(len(members[s]))
			members[s][i].close()
			members[s] = append(members[s][:i], members[s][i+1:]...)
		}
		select {
		case <-time.After(time.Duration(150+rng.IntN(250)) * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("timed out churning")
		}
	}
	final := newClient(t, n, kgo.ConsumeTopics(fmt.Sprint("etl-", stages)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	arrived := map[string]bool{}
	for len(arrived) < records {
		fs := final.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%d of %d records reached the end", len(arrived), records)
		}
		fs.EachRecord(func(r *kgo.Record) { arrived[string(r.Value)] = true })
	}
	for s := range members {
		for _, m := range members[s] {
			m.close()
		}
	}
	check.mu.Lock()
	defer check.mu.Unlock()
	t.Logf("%d record processings (offset and generation) over %d stages", len(check.seen), stages)
	for _, e := range check.errs {
		t.Error(e)
	}
	for i := 0; i < records; i++ {
		if !arrived[fmt.Sprint("v", i)] {
			t.Fatalf("record v%d never arrived", i)
		}
	}
}
