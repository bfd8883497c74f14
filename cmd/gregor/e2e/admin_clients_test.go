package e2e

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
)

// The admin and offset calls of kafka-python (KafkaAdminClient,
// KafkaConsumer) and of confluent-kafka (every AdminClient method of
// Debian's 1.7, the Consumer's watermarks, offsets_for_times, seek,
// committed and incremental assignment), each script checking its answers
// against Apache Kafka's; each on a broker of its own, as it lists topics
// and groups.
func TestPythonAdminClients(t *testing.T) {
	for _, script := range []string{"admin_kafka_python.py", "admin_confluent.py"} {
		t.Run(strings.TrimSuffix(script, ".py"), func(t *testing.T) {
			b := startBroker(t)
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/"+script, b.addr).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				t.Fatalf("%s: %v\n%s", script, err, out)
			}
		})
	}
}

// gregor has no authorizer: sarama's and kafka-go's ACL calls get
// SECURITY_DISABLED, as from a Kafka broker run without one (kafka-go's
// Client sends DescribeAcls without asking ApiVersions: its connection was
// closed when gregor did not serve it).
func TestSaramaAndKafkaGoACLCalls(t *testing.T) {
	b := startBroker(t)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	ca, err := sarama.NewClusterAdmin([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	every := sarama.AclFilter{ResourceType: sarama.AclResourceAny, ResourcePatternTypeFilter: sarama.AclPatternAny,
		Operation: sarama.AclOperationAny, PermissionType: sarama.AclPermissionAny}
	if _, err := ca.ListAcls(every); !errors.Is(err, sarama.ErrSecurityDisabled) {
		t.Errorf("sarama ListAcls: %v", err)
	}
	err = ca.CreateACL(sarama.Resource{ResourceType: sarama.AclResourceTopic, ResourceName: "orders", ResourcePatternType: sarama.AclPatternLiteral},
		sarama.Acl{Principal: "User:alice", Host: "*", Operation: sarama.AclOperationRead, PermissionType: sarama.AclPermissionAllow})
	if !errors.Is(err, sarama.ErrSecurityDisabled) {
		t.Errorf("sarama CreateACL: %v", err)
	}
	if _, err := ca.DeleteACL(every, false); !errors.Is(err, sarama.ErrSecurityDisabled) {
		t.Errorf("sarama DeleteACL: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := &kafka.Client{Addr: kafka.TCP(b.addr), Timeout: 10 * time.Second}
	resp, err := c.DescribeACLs(ctx, &kafka.DescribeACLsRequest{Filter: kafka.ACLFilter{ResourceTypeFilter: kafka.ResourceTypeAny,
		ResourcePatternTypeFilter: kafka.PatternTypeAny, Operation: kafka.ACLOperationTypeAny, PermissionType: kafka.ACLPermissionTypeAny}})
	if err != nil || !errors.Is(resp.Error, kafka.SecurityDisabled) {
		t.Errorf("kafka-go DescribeACLs: %v %+v", err, resp)
	}
}
