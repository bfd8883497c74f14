package actors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// pinnedClient is a franz-go client that uses version v of key and the
// broker's highest for the rest.
func pinnedClient(t *testing.T, n *Node, key int16, v int16, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(key, v)
	return newClient(t, n, append([]kgo.Opt{kgo.MaxVersions(versions)}, opts...)...)
}

// Every advertised version of every served API, driven by franz-go pinned to
// that version: the broker answers it correctly, not only the newest one.
func TestEveryAdvertisedVersion(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 120*time.Second)
	plain := newClient(t, n)
	adm := kadm.NewClient(plain)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "versions"); err != nil {
		t.Fatal(err)
	}
	cases := map[int16]func(ctx context.Context, v int16) error{
		int16(kmsg.Produce): func(ctx context.Context, v int16) error {
			cl := pinnedClient(t, n, int16(kmsg.Produce), v, kgo.DefaultProduceTopic("versions"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			r, err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint("v", v))}).First()
			if err == nil && r.Partition != 0 {
				err = fmt.Errorf("produced to partition %d", r.Partition)
			}
			return err
		},
		int16(kmsg.Fetch): func(ctx context.Context, v int16) error {
			cl := pinnedClient(t, n, int16(kmsg.Fetch), v, kgo.ConsumeTopics("versions"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			fs := cl.PollRecords(ctx, 1)
			if err := fs.Err(); err != nil {
				return err
			}
			if len(fs.Records()) == 0 {
				return fmt.Errorf("no record")
			}
			return nil
		},
		int16(kmsg.ListOffsets): func(ctx context.Context, v int16) error {
			res, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.ListOffsets), v)).ListEndOffsets(ctx, "versions")
			if err == nil {
				err = res.Error()
			}
			if o, _ := res.Lookup("versions", 0); err == nil && o.Offset < 1 {
				err = fmt.Errorf("end offset %d", o.Offset)
			}
			return err
		},
		int16(kmsg.Metadata): func(ctx context.Context, v int16) error {
			md, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.Metadata), v)).Metadata(ctx, "versions")
			if err == nil && len(md.Topics["versions"].Partitions) != 2 {
				err = fmt.Errorf("metadata %+v", md.Topics["versions"])
			}
			return err
		},
		int16(kmsg.CreateTopics): func(ctx context.Context, v int16) error {
			_, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.CreateTopics), v)).CreateTopic(ctx, 1, 1, nil, fmt.Sprint("create-v", v))
			return err
		},
		int16(kmsg.DeleteTopics): func(ctx context.Context, v int16) error {
			name := fmt.Sprint("delete-v", v)
			if _, err := adm.CreateTopic(ctx, 1, 1, nil, name); err != nil {
				return err
			}
			res, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.DeleteTopics), v)).DeleteTopics(ctx, name)
			if err == nil {
				err = res.Error()
			}
			return err
		},
		int16(kmsg.DeleteRecords): func(ctx context.Context, v int16) error {
			res, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.DeleteRecords), v)).DeleteRecords(ctx, kadm.Offsets{"versions": {1: {At: 0}}})
			if err == nil {
				err = res.Error()
			}
			return err
		},
		int16(kmsg.DescribeConfigs): func(ctx context.Context, v int16) error {
			rcs, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.DescribeConfigs), v)).DescribeTopicConfigs(ctx, "versions")
			if err == nil {
				_, err = rcs.On("versions", nil)
			}
			return err
		},
		int16(kmsg.AlterConfigs): func(ctx context.Context, v int16) error {
			res, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.AlterConfigs), v)).AlterTopicConfigs(ctx,
				[]kadm.AlterConfig{{Name: "retention.ms", Value: kadm.StringPtr(fmt.Sprint(100000 + int(v)))}}, "versions")
			if err == nil && len(res) > 0 {
				err = res[0].Err
			}
			return err
		},
		int16(kmsg.CreatePartitions): func(ctx context.Context, v int16) error {
			name := fmt.Sprint("grow-v", v)
			if _, err := adm.CreateTopic(ctx, 1, 1, nil, name); err != nil {
				return err
			}
			res, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.CreatePartitions), v)).CreatePartitions(ctx, 2, name)
			if err == nil {
				err = res.Error()
			}
			return err
		},
		int16(kmsg.IncrementalAlterConfigs): func(ctx context.Context, v int16) error {
			res, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.IncrementalAlterConfigs), v)).AlterTopicConfigs(ctx,
				[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.bytes", Value: kadm.StringPtr(fmt.Sprint(1 << 30))}}, "versions")
			if err == nil && len(res) > 0 {
				err = res[0].Err
			}
			return err
		},
		int16(kmsg.DescribeCluster): func(ctx context.Context, v int16) error {
			req := kmsg.NewPtrDescribeClusterRequest()
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.DescribeCluster), v))
			if err == nil && (len(resp.Brokers) != 1 || resp.Version != v) {
				err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			return err
		},
		int16(kmsg.DescribeLogDirs): func(ctx context.Context, v int16) error {
			dirs, err := kadm.NewClient(pinnedClient(t, n, int16(kmsg.DescribeLogDirs), v)).DescribeAllLogDirs(ctx, nil)
			if err == nil && len(dirs[n.cfg.NodeID]) != 1 {
				err = fmt.Errorf("dirs %v", dirs)
			}
			return err
		},
		int16(kmsg.ListConfigResources): func(ctx context.Context, v int16) error {
			req := kmsg.NewPtrListConfigResourcesRequest()
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.ListConfigResources), v))
			if err == nil && (resp.ErrorCode != 0 || resp.Version != v) {
				err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			return err
		},
		int16(kmsg.DescribeTopicPartitions): func(ctx context.Context, v int16) error {
			req := kmsg.NewPtrDescribeTopicPartitionsRequest()
			req.ResponsePartitionLimit = 100
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.DescribeTopicPartitions), v))
			if err == nil && len(resp.Topics) == 0 {
				err = fmt.Errorf("no topic described")
			}
			return err
		},
		int16(kmsg.DescribeClientQuotas): func(ctx context.Context, v int16) error {
			req := kmsg.NewPtrDescribeClientQuotasRequest()
			req.Components = []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 2}}
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.DescribeClientQuotas), v))
			if err == nil && (resp.ErrorCode != 0 || resp.Version != v || len(resp.Entries) != 0) {
				err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			return err
		},
		int16(kmsg.DescribeUserSCRAMCredentials): func(ctx context.Context, v int16) error {
			req := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.DescribeUserSCRAMCredentials), v))
			if err == nil && (resp.ErrorCode != 0 || resp.Version != v || len(resp.Results) != 0) {
				err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			return err
		},
		int16(kmsg.DescribeACLs): func(ctx context.Context, v int16) error {
			req := kmsg.NewPtrDescribeACLsRequest()
			req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeLiteral
			req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.DescribeACLs), v))
			if err == nil && (resp.ErrorCode != kerr.SecurityDisabled.Code || resp.Version != v) {
				err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			return err
		},
		int16(kmsg.CreateACLs): func(ctx context.Context, v int16) error {
			req := kmsg.NewPtrCreateACLsRequest()
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "versions", kmsg.ACLResourcePatternTypeLiteral
			c.Principal, c.Host, c.Operation, c.PermissionType = "User:alice", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
			req.Creations = append(req.Creations, c)
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.CreateACLs), v))
			if err == nil && (resp.Version != v || len(resp.Results) != 1 || resp.Results[0].ErrorCode != kerr.SecurityDisabled.Code) {
				err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			return err
		},
		int16(kmsg.DeleteACLs): func(ctx context.Context, v int16) error {
			req := kmsg.NewPtrDeleteACLsRequest()
			f := kmsg.NewDeleteACLsRequestFilter()
			f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
			f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			req.Filters = append(req.Filters, f, f)
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.DeleteACLs), v))
			if err == nil && (resp.Version != v || len(resp.Results) != 2 || resp.Results[1].ErrorCode != kerr.SecurityDisabled.Code) {
				err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			return err
		},
		int16(kmsg.UnregisterBroker): func(ctx context.Context, v int16) error {
			req := kmsg.NewPtrUnregisterBrokerRequest()
			req.BrokerID = 99
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.UnregisterBroker), v))
			if err == nil && (resp.ErrorCode != kerr.BrokerIDNotRegistered.Code || resp.Version != v) {
				err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			return err
		},
	}
	for key, run := range clusterVersionCases(t, n) {
		cases[key] = run
	}
	for key, run := range groupVersionCases(t, n) {
		cases[key] = run
	}
	for key, run := range replicationVersionCases(t, n) {
		cases[key] = run
	}
	for key, run := range producerVersionCases(t, n) {
		cases[key] = run
	}
	for key, run := range txnVersionCases(t, n) {
		cases[key] = run
	}
	for _, r := range servedAPIVersions() {
		run, ok := cases[r.APIKey]
		if !ok {
			t.Errorf("advertised %s has no version test", kmsg.NameForKey(r.APIKey))
			continue
		}
		for v := r.MinVersion; v <= r.MaxVersion; v++ {
			if err := run(ctx, v); err != nil {
				t.Errorf("%s v%d: %v", kmsg.NameForKey(r.APIKey), v, err)
			}
		}
	}
}

// A read_committed consumer reads everything (there are no transactions yet,
// so the last stable offset is the high watermark), and ListOffsets at
// read_committed answers the same end.
func TestReadCommittedConsumer(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	prod := newClient(t, n, kgo.DefaultProduceTopic("committed"), kgo.AllowAutoTopicCreation())
	for i := 0; i < 5; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cons := newClient(t, n, kgo.ConsumeTopics("committed"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []*kgo.Record
	for len(got) < 5 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read_committed consumer read %d of 5", len(got))
		}
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		got = append(got, fs.Records()...)
	}
	for i, r := range got {
		if r.Offset != int64(i) || r.Value[0] != byte(i) {
			t.Fatalf("record %d: offset %d value %v", i, r.Offset, r.Value)
		}
	}
	ends, err := kadm.NewClient(newClient(t, n)).ListCommittedOffsets(ctx, "committed")
	if err != nil || ends["committed"][0].Offset != 5 {
		t.Fatalf("end offsets %v %v", ends, err)
	}
}
