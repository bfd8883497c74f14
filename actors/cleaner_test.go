package actors

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceKeyed writes rounds × keys records, key k<i> with value
// <tag><round>-<padding>.
func produceKeyed(t *testing.T, cl *kgo.Client, topic, tag string, rounds, keys int) {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	for r := 0; r < rounds; r++ {
		var recs []*kgo.Record
		for k := 0; k < keys; k++ {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint("k", k)), Value: []byte(fmt.Sprintf("%s%d-%0100d", tag, r, k))})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// readAll consumes topic from the start up to its end offset.
func readAll(t *testing.T, n *Node, topic string) []*kgo.Record {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end := ends[topic][0].Offset
	cl := newClient(t, n, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	var out []*kgo.Record
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d records of %s up to %d", len(out), topic, end)
		}
		out = append(out, fs.Records()...)
		if len(out) > 0 && out[len(out)-1].Offset >= end-1 {
			return out
		}
	}
}

// A compacted topic keeps the latest value of every key: the node's cleaner
// runs on its own, and a topic turned from delete to compact by
// AlterConfigs is cleaned too (the log takes the new config).
func TestCompactedTopicKeepsLatestPerKey(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.RetentionCheckIntervalMs, c.CleanerBackoffMs = 50, 50 })
	ctx := testContext(t, 60*time.Second)
	cl := newClient(t, n, kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := kadm.NewClient(cl)
	small := map[string]*string{"segment.bytes": kadm.StringPtr("4096"), "min.cleanable.dirty.ratio": kadm.StringPtr("0.01")}
	compact := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	for k, v := range small {
		compact[k] = v
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, compact, "compacted"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, small, "altered"); err != nil {
		t.Fatal(err)
	}
	const rounds, keys = 20, 10
	for _, topic := range []string{"compacted", "altered"} {
		produceKeyed(t, cl, topic, "r", rounds, keys)
	}
	// A keyless record is refused by the compacted topic only.
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: "compacted", Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record on a compacted topic: %v, want INVALID_RECORD", err)
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, "altered"); err != nil {
		t.Fatal(err)
	}
	// One more record per key in a new segment, so the old ones are closed.
	for _, topic := range []string{"compacted", "altered"} {
		produceKeyed(t, cl, topic, "final", 1, keys)
	}
	defer func() {
		if t.Failed() {
			return
		}
		if runs, removed := testutil.ToFloat64(n.metrics.cleanerRuns), testutil.ToFloat64(n.metrics.cleanerRecordsRemoved); runs < 2 || removed < 2*170 {
			t.Errorf("metrics: %v cleaner runs, %v records removed", runs, removed)
		}
	}()
	for _, topic := range []string{"compacted", "altered"} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			recs := readAll(t, n, topic)
			latest := map[string]string{}
			lastOffset := int64(-1)
			for _, r := range recs {
				if r.Offset <= lastOffset {
					t.Fatalf("%s: offset %d after %d", topic, r.Offset, lastOffset)
				}
				lastOffset = r.Offset
				latest[string(r.Key)] = string(r.Value[:bytes.IndexByte(r.Value, '-')])
			}
			for k := 0; k < keys; k++ {
				if v := latest[fmt.Sprint("k", k)]; v != "final0" {
					t.Fatalf("%s: key k%d reads %q last, want the final round", topic, k, v)
				}
			}
			if len(recs) < (rounds+1)*keys/2 {
				t.Logf("%s: %d of %d records left after compaction", topic, len(recs), (rounds+1)*keys)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %d of %d records after 30s", topic, len(recs), (rounds+1)*keys)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// With log.cleaner.enable=false a compacted topic keeps every record. The
// topic also deletes by size, so the log start offset moving shows that the
// retention checks ran (the ones that would hand a compacted log to the
// cleaner); the test waits for two of them apart.
func TestDisabledLogCleanerCompactsNothing(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.RetentionCheckIntervalMs, c.CleanerBackoffMs = 20, 20; c.DisableLogCleaner = true })
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n, kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := kadm.NewClient(cl)
	configs := map[string]*string{"cleanup.policy": kadm.StringPtr("compact,delete"), "segment.bytes": kadm.StringPtr("4096"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"), "retention.bytes": kadm.StringPtr("16384")}
	if _, err := adm.CreateTopic(ctx, 1, 1, configs, "kept"); err != nil {
		t.Fatal(err)
	}
	start := int64(0)
	for round := 0; round < 2; round++ {
		produceKeyed(t, cl, "kept", "r", 20, 10)
		start = waitForLogStartPast(t, adm, "kept", start)
	}
	// Retention may still move the log start while readAll reads (a check
	// every 20 ms, and the last rounds' segments may close after the wait):
	// the consumer then gets OFFSET_OUT_OF_RANGE and resumes at the new log
	// start, a jump over offsets retention deleted. So only offsets below the
	// log start after the read may be missing; from there to the end, with
	// several closed segments the cleaner would have compacted, none may be.
	recs := readAll(t, n, "kept")
	after, gaps := checkGapsBelowLogStart(t, adm, "kept", recs)
	if recs[len(recs)-1].Offset+1-after < 40 {
		t.Fatalf("only %d records from the log start %d: too few to show compaction", recs[len(recs)-1].Offset+1-after, after)
	}
	t.Logf("log start %d before the read, %d after; read from %d, %d gaps below it", start, after, recs[0].Offset, gaps)
	if runs := testutil.ToFloat64(n.metrics.cleanerRuns); runs != 0 {
		t.Fatalf("%v cleaner runs with the cleaner disabled", runs)
	}
}

// checkGapsBelowLogStart fails unless recs, read from topic's partition 0
// up to its end, are in offset order and miss no offset at or above the
// partition's log start offset read afterwards (retention deletes only
// below it; a gap above it is a lost or compacted record). It returns that
// log start offset and the number of gaps below it.
func checkGapsBelowLogStart(t *testing.T, adm *kadm.Client, topic string, recs []*kgo.Record) (start int64, gaps int) {
	t.Helper()
	starts, err := adm.ListStartOffsets(testContext(t, 20*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	start = starts[topic][0].Offset
	if len(recs) == 0 {
		t.Fatalf("read no records, the log starts at %d", start)
	}
	if recs[0].Offset > start {
		t.Fatalf("first record read at %d, above the log start %d", recs[0].Offset, start)
	}
	for i := 1; i < len(recs); i++ {
		prev, cur := recs[i-1].Offset, recs[i].Offset
		switch {
		case cur <= prev:
			t.Fatalf("offset %d read after %d", cur, prev)
		case cur == prev+1:
		case cur > start:
			t.Fatalf("offsets %d to %d missing, above the log start %d", prev+1, cur-1, start)
		default:
			gaps++
		}
	}
	return start, gaps
}

// A consumer that falls behind retention gets OFFSET_OUT_OF_RANGE and
// resumes at the new log start offset: the offsets it skips are all below
// the log start, and from there it reads every offset.
func TestConsumerBehindRetentionSkipsOnlyBelowLogStart(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.RetentionCheckIntervalMs, c.CleanerBackoffMs = 20, 20 })
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n, kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := kadm.NewClient(cl)
	configs := map[string]*string{"segment.bytes": kadm.StringPtr("4096"), "retention.bytes": kadm.StringPtr("8192")}
	if _, err := adm.CreateTopic(ctx, 1, 1, configs, "behind"); err != nil {
		t.Fatal(err)
	}
	produceKeyed(t, cl, "behind", "r", 5, 10)
	// One batch per Fetch, so the consumer holds little beyond what it
	// polled.
	consumer := newClient(t, n, kgo.ConsumeTopics("behind"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(1), kgo.FetchMaxPartitionBytes(1), kgo.FetchMaxWait(100*time.Millisecond))
	var recs []*kgo.Record
	for len(recs) == 0 {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no first records")
		}
		recs = append(recs, fs.Records()...)
	}
	// Retention deletes what the consumer has not read yet.
	produceKeyed(t, cl, "behind", "r", 40, 10)
	waitForLogStartPast(t, adm, "behind", recs[len(recs)-1].Offset+100)
	ends, err := adm.ListEndOffsets(ctx, "behind")
	if err != nil {
		t.Fatal(err)
	}
	for end := ends["behind"][0].Offset; recs[len(recs)-1].Offset < end-1; {
		fs := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read up to %d of %d", recs[len(recs)-1].Offset, end)
		}
		recs = append(recs, fs.Records()...)
	}
	start, gaps := checkGapsBelowLogStart(t, adm, "behind", recs)
	if gaps == 0 {
		t.Fatalf("the consumer read %d records from %d without a gap, the log starts at %d: it never fell behind", len(recs), recs[0].Offset, start)
	}
	t.Logf("read %d records from %d to %d, %d gaps below the log start %d", len(recs), recs[0].Offset, recs[len(recs)-1].Offset, gaps, start)
}

// waitForLogStartPast waits until topic's partition 0 starts past offset and
// returns its log start offset.
func waitForLogStartPast(t *testing.T, adm *kadm.Client, topic string, offset int64) int64 {
	t.Helper()
	ctx := testContext(t, 20*time.Second)
	for {
		starts, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		if start := starts[topic][0].Offset; start > offset {
			return start
		}
		select {
		case <-ctx.Done():
			t.Fatalf("log start offset of %s never passed %d: retention never ran", topic, offset)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// retention.bytes set by AlterConfigs reaches the log: old segments go and
// the log start offset moves.
func TestAlteredRetentionDeletesSegments(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.RetentionCheckIntervalMs, c.CleanerBackoffMs = 50, 50 })
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, n, kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("4096")}, "shrink"); err != nil {
		t.Fatal(err)
	}
	produceKeyed(t, cl, "shrink", "r", 20, 10)
	starts, err := adm.ListStartOffsets(ctx, "shrink")
	if err != nil || starts["shrink"][0].Offset != 0 {
		t.Fatalf("log start before retention: %v %v", starts, err)
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kadm.StringPtr("8192")}}, "shrink"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		starts, err := adm.ListStartOffsets(ctx, "shrink")
		if err != nil {
			t.Fatal(err)
		}
		if start := starts["shrink"][0].Offset; start > 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log start offset still %d 20s after retention.bytes=8192", starts["shrink"][0].Offset)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A compacted topic written by transactions is compacted too (Kafka
// Streams' changelogs under exactly-once are): the cleaner compacts the
// records of committed transactions by key, as Kafka's does. Before, it
// kept every committed transactional record, so the log only grew.
func TestCompactedTopicCompactsTransactions(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.RetentionCheckIntervalMs, c.CleanerBackoffMs = 50, 50 })
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	configs := map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "segment.bytes": kadm.StringPtr("4096"),
		"min.cleanable.dirty.ratio": kadm.StringPtr("0.01")}
	if _, err := adm.CreateTopic(ctx, 1, 1, configs, "txn-compacted"); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr().String()), kgo.TransactionalID("txn-compacted"),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	const rounds, keys = 21, 10
	for r := 0; r < rounds; r++ {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < keys; k++ {
			cl.Produce(ctx, &kgo.Record{Topic: "txn-compacted", Key: []byte(fmt.Sprint("k", k)), Value: []byte(fmt.Sprintf("r%d-%0100d", r, k))}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	// Read from the start up to the last record written (the log ends with
	// a marker, which no consumer sees), until compaction has thinned it.
	want, last := fmt.Sprint("r", rounds-1), fmt.Sprint("k", keys-1)
	for previous := -1; ; {
		cons := newClient(t, n, kgo.ConsumeTopics("txn-compacted"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(100*time.Millisecond), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		latest, read := map[string]string{}, 0
		for latest[last] != want {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %d records, none of the last round's %s (the read before: %d records of %d written)", read, last, previous, rounds*keys)
			}
			for _, r := range fs.Records() {
				latest[string(r.Key)] = string(r.Value[:bytes.IndexByte(r.Value, '-')])
				read++
			}
		}
		cons.Close()
		for k := 0; k < keys; k++ {
			if v := latest[fmt.Sprint("k", k)]; v != want {
				t.Fatalf("key k%d reads %q last, want %q", k, v, want)
			}
		}
		if read < rounds*keys/2 {
			return
		}
		previous = read
	}
}
