package actors

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka's kafka-configs --describe --entity-type clients|users|ips sends
// DescribeClientQuotas v1 and, for users, DescribeUserScramCredentials v0:
// both answer that none are set.
func TestDescribeClientQuotasAndSCRAMUsersNone(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	cl := newClient(t, n)

	quotas := kmsg.NewPtrDescribeClientQuotasRequest()
	quotas.Version = 1
	quotas.Components = []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "client-id", MatchType: 2}}
	qr, err := quotas.RequestWith(ctx, cl)
	if err != nil || qr.ErrorCode != 0 || qr.Entries == nil || len(qr.Entries) != 0 {
		t.Fatalf("client quotas: %v %+v", err, qr)
	}
	quotas.Components = []kmsg.DescribeClientQuotasRequestComponent{{EntityType: "user", MatchType: 0, Match: kmsg.StringPtr("alice")},
		{EntityType: "user", MatchType: 1}}
	if qr, err = quotas.RequestWith(ctx, cl); err != nil || qr.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("a duplicate entity type: %v %+v", err, qr)
	}

	scram := kmsg.NewPtrDescribeUserSCRAMCredentialsRequest()
	sr, err := scram.RequestWith(ctx, cl)
	if err != nil || sr.ErrorCode != 0 || len(sr.Results) != 0 {
		t.Fatalf("all users: %v %+v", err, sr)
	}
	scram.Users = []kmsg.DescribeUserSCRAMCredentialsRequestUser{{Name: "alice"}, {Name: "bob"}, {Name: "bob"}}
	if sr, err = scram.RequestWith(ctx, cl); err != nil || sr.ErrorCode != 0 || len(sr.Results) != 2 {
		t.Fatalf("named users: %v %+v", err, sr)
	}
	if a, b := sr.Results[0], sr.Results[1]; a.User != "alice" || a.ErrorCode != kerr.ResourceNotFound.Code ||
		b.User != "bob" || b.ErrorCode != kerr.DuplicateResource.Code {
		t.Fatalf("named users: %+v", sr.Results)
	}
}

// kafka-configs --describe --entity-type groups sends DescribeConfigs of
// GROUP resources: any group name gets the KIP-848 group configs, the
// broker's group.consumer.* values.
func TestDescribeGroupAndClientMetricsConfigs(t *testing.T) {
	n := startTestNode(t, t.TempDir(), func(c *Config) { c.Groups.ConsumerSessionTimeoutMs = 30000 })
	ctx := testContext(t, 20*time.Second)
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.Version = 4
	for _, name := range []string{"audit", ""} {
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, name
		req.Resources = append(req.Resources, res)
	}
	// kafka-configs --describe --entity-type client-metrics: no
	// subscription exists, so each named one has no configs.
	cm := kmsg.NewDescribeConfigsRequestResource()
	cm.ResourceType, cm.ResourceName = kmsg.ConfigResourceTypeClientMetrics, "all-metrics"
	req.Resources = append(req.Resources, cm)
	resp, err := req.RequestWith(ctx, newClient(t, n))
	if err != nil || len(resp.Resources) != 3 {
		t.Fatalf("%v %+v", err, resp)
	}
	got := map[string]string{}
	for _, c := range resp.Resources[0].Configs {
		got[c.Name] = *c.Value
		if c.Source != kmsg.ConfigSourceDefaultConfig || !c.ReadOnly {
			t.Errorf("%s: source %v read-only %v", c.Name, c.Source, c.ReadOnly)
		}
	}
	if r := resp.Resources[0]; r.ErrorCode != 0 || len(got) != 2 ||
		got["consumer.session.timeout.ms"] != "30000" || got["consumer.heartbeat.interval.ms"] != "5000" {
		t.Fatalf("group audit: error %d, configs %v", r.ErrorCode, got)
	}
	if r := resp.Resources[1]; r.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("an empty group name: %+v", r)
	}
	if r := resp.Resources[2]; r.ErrorCode != 0 || len(r.Configs) != 0 {
		t.Fatalf("client metrics: %+v", r)
	}
}

// kafka-configs --describe --entity-type broker-loggers --entity-name ID
// sends DescribeConfigs of a BROKER_LOGGER resource: the root logger at the
// node's log level; another broker's id is refused, as by Kafka.
func TestDescribeBrokerLoggers(t *testing.T) {
	n := startTestNode(t, t.TempDir(), nil)
	ctx := testContext(t, 20*time.Second)
	req := kmsg.NewPtrDescribeConfigsRequest()
	for _, name := range []string{fmt.Sprint(n.cfg.NodeID), "7"} {
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, name
		req.Resources = append(req.Resources, res)
	}
	// Straight to the broker: kgo sends a broker's resource to the broker
	// it names, and knows no broker 7.
	kr, err := newClient(t, n).Broker(int(n.cfg.NodeID)).Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kr.(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 2 {
		t.Fatalf("%+v", resp)
	}
	mine, other := resp.Resources[0], resp.Resources[1]
	want := strings.ToUpper(n.logger.Level().String())
	if mine.ErrorCode != 0 || len(mine.Configs) != 1 || mine.Configs[0].Name != "root" || mine.Configs[0].Value == nil || *mine.Configs[0].Value != want {
		t.Fatalf("this node's loggers: %+v, want root=%s", mine, want)
	}
	if other.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("another broker's loggers: %+v", other)
	}
}
