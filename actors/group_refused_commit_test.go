package actors

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/groups"
)

// A commit larger than __consumer_offsets' max.message.bytes fails alone
// (INVALID_COMMIT_OFFSET_SIZE, as Kafka maps MESSAGE_TOO_LARGE): the
// coordinator keeps its KIP-848 group, whose member keeps its epoch and
// commits smaller batches. It used to revert and reload the partition,
// forgetting the member (and again at each such commit).
func TestGroupCommitTooLargeFailsAlone(t *testing.T) {
	n := start848Node(t)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	const partitions = 40
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, "wide"); err != nil {
		t.Fatal(err)
	}
	member, before := pollingConsumerMember(t, ctx, n, adm, "gw", "wide", partitions)

	// Commits of one partition fit in 600 bytes, of 40 they do not.
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kmsg.StringPtr("600")}}, groups.OffsetsTopic)
	if err == nil {
		_, err = resps.On(groups.OffsetsTopic, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	wide := map[string]map[int32]kgo.EpochOffset{"wide": {}}
	for p := int32(0); p < partitions; p++ {
		wide["wide"][p] = kgo.EpochOffset{Epoch: -1, Offset: 0}
	}
	commit := func(offsets map[string]map[int32]kgo.EpochOffset) error {
		var got error
		member.CommitOffsetsSync(ctx, offsets, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				got = err
				return
			}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode != 0 && got == nil {
						got = kerr.ErrorForCode(rp.ErrorCode)
					}
				}
			}
		})
		return got
	}
	// The new limit reaches the partition through the metadata image: the
	// wide commits succeed until it does.
	waitUntil(t, ctx, "a wide commit refused as INVALID_COMMIT_OFFSET_SIZE", func() bool {
		err := commit(wide)
		if err != nil && !errors.Is(err, kerr.InvalidCommitOffsetSize) {
			t.Fatalf("wide commit: %v", err)
		}
		return err != nil
	})
	for range 3 {
		if err := commit(wide); !errors.Is(err, kerr.InvalidCommitOffsetSize) {
			t.Fatalf("wide commit: %v, want INVALID_COMMIT_OFFSET_SIZE", err)
		}
	}
	if err := commit(map[string]map[int32]kgo.EpochOffset{"wide": {7: {Epoch: -1, Offset: 3}}}); err != nil {
		t.Fatalf("narrow commit after the refusals: %v", err)
	}
	after := describeConsumerGroup(t, ctx, adm, "gw")
	if after.Epoch != before.Epoch || len(after.Members) != 1 || after.Members[0].MemberID != before.Members[0].MemberID ||
		after.Members[0].MemberEpoch != before.Members[0].MemberEpoch {
		t.Fatalf("the group changed across the refused commits: before %+v, after %+v", before, after)
	}
	offsets, err := adm.FetchOffsets(ctx, "gw")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offsets.Lookup("wide", 7); !ok || o.At != 3 {
		t.Fatalf("wide/7 committed %+v, want 3", o)
	}
}

// describeConsumerGroup describes a KIP-848 group.
func describeConsumerGroup(t *testing.T, ctx context.Context, adm *kadm.Client, group string) kadm.DescribedConsumerGroup {
	t.Helper()
	described, err := adm.DescribeConsumerGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	d := described[group]
	if d.Err != nil {
		t.Fatal(d.Err)
	}
	return d
}

// Commits that arrive while a batch is written go out merged into one
// batch; merged past __consumer_offsets' max.message.bytes, the batch is
// refused, and the coordinator sends its commits again one by one: each
// fits, so each succeeds (without the split, some are refused).
func TestGroupMergedCommitsSplitWhenTooLarge(t *testing.T) {
	n := startGroupNode(t)
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "narrow"); err != nil {
		t.Fatal(err)
	}
	first := kadm.Offsets{}
	first.AddOffset("narrow", 0, 1, -1)
	if err := adm.CommitAllOffsets(ctx, "warm-up", first); err != nil {
		t.Fatal(err)
	}
	limitOffsetsRecords(t, ctx, adm, 300, "probe", "narrow")
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 5 {
				o := kadm.Offsets{}
				o.AddOffset("narrow", 0, int64(100*i+round), -1)
				if err := adm.CommitAllOffsets(ctx, "g", o); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("commit: %v", err)
	}
}

// limitOffsetsRecords sets __consumer_offsets' max.message.bytes to limit
// and waits until it applies: group probe's commit to partition 0 of topic
// with 100 bytes of metadata more than limit is refused as too large.
func limitOffsetsRecords(t *testing.T, ctx context.Context, adm *kadm.Client, limit int, probe, topic string) {
	t.Helper()
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kmsg.StringPtr(strconv.Itoa(limit))}}, groups.OffsetsTopic)
	if err == nil {
		_, err = resps.On(groups.OffsetsTopic, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, ctx, "max.message.bytes applied", func() bool {
		o := kadm.Offsets{}
		o.Add(kadm.Offset{Topic: topic, Partition: 0, At: 1, LeaderEpoch: -1, Metadata: string(make([]byte, limit+100))})
		return errors.Is(adm.CommitAllOffsets(ctx, probe, o), kerr.InvalidCommitOffsetSize)
	})
}

// pollingConsumerMember starts a KIP-848 member of group consuming topic
// (auto-commit off, polling), waits until it holds all partitions, and
// returns it with the group as described then.
func pollingConsumerMember(t *testing.T, ctx context.Context, n *Node, adm *kadm.Client, group, topic string, partitions int) (*kgo.Client, kadm.DescribedConsumerGroup) {
	t.Helper()
	member := newClient(t, n, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.ServerSideBalancer(), kgo.DisableAutoCommit())
	var mu sync.Mutex
	startPoller(t, ctx, member, &mu, map[string]bool{})
	consumerAssignments(t, ctx, adm, group, 1, partitions)
	return member, describeConsumerGroup(t, ctx, adm, group)
}

// An OffsetCommit to a group that does not exist, whose every partition is
// refused (a topic deleted, or never created) makes no group: ListGroups
// does not show an empty group with no protocol, as Kafka's brokers answer
// such a commit before their group coordinator; nor does a
// TxnOffsetCommit. A commit with a partition left makes the simple group.
// (franz-go answers a commit to a topic it has no id of itself: the
// commits here are sent as kafka-python's, by name, and as the Java
// client's, by the id it had.)
func TestGroupRefusedCommitMakesNoGroup(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.AutoCreateTopics = false })
	ctx := testContext(t, 60*time.Second)
	adm := kadm.NewClient(newClient(t, n))
	created, err := adm.CreateTopic(ctx, 1, 1, nil, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adm.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the groups' coordinator", func() bool {
		for _, g := range []string{"ghost-name", "ghost-id", "ghost-txn"} {
			if resp, err := adm.FetchOffsets(ctx, g); err != nil || resp.Error() != nil {
				return false
			}
		}
		return true
	})
	commit := func(version int16, group, topic string, id [16]byte) *kmsg.OffsetCommitRequest {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Version, req.Group, req.Generation = version, group, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = topic, id
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 5, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	txnCommit := kmsg.NewPtrTxnOffsetCommitRequest()
	txnCommit.Version, txnCommit.TransactionalID, txnCommit.Group, txnCommit.ProducerID = 3, "t", "ghost-txn", 1
	txnCommit.Generation = -1
	txnCommit.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "never", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5, LeaderEpoch: -1}}}}
	for _, sent := range []struct {
		req  kmsg.Request
		want error
	}{
		{commit(9, "ghost-name", "never", [16]byte{}), kerr.UnknownTopicOrPartition},
		{commit(10, "ghost-id", "", created.ID), kerr.UnknownTopicID},
		{txnCommit, kerr.UnknownTopicOrPartition},
	} {
		var code int16
		switch resp := readRaw(t, sendRaw(t, n, sent.req), sent.req).(type) {
		case *kmsg.OffsetCommitResponse:
			code = resp.Topics[0].Partitions[0].ErrorCode
		case *kmsg.TxnOffsetCommitResponse:
			code = resp.Topics[0].Partitions[0].ErrorCode
		}
		if err := kerr.ErrorForCode(code); err != sent.want {
			t.Fatalf("%s v%d: %v, want %v", kmsg.NameForKey(sent.req.Key()), sent.req.GetVersion(), err, sent.want)
		}
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "here"); err != nil {
		t.Fatal(err)
	}
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "here", Partition: 0, At: 5, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "simple", offsets); err != nil || resp.Error() != nil {
		t.Fatalf("commit to here: %v %v", err, resp.Error())
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := listed.Groups(); len(got) != 1 || got[0] != "simple" {
		t.Fatalf("groups listed %v, want [simple]", got)
	}
}
