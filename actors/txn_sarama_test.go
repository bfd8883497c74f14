package actors

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sarama's transactional producer, which knows nothing of feature levels
// (it adds partitions itself and keeps its epoch), on a node at
// transaction.version 2: commits and aborts interleaved, a read_committed
// consumer reads only the committed records, a read_uncommitted one all.
func TestTxnSaramaOnTransactionVersion2(t *testing.T) {
	n := startTxnNode(t)
	ctx := testContext(t, 60*time.Second)
	if _, err := kadm.NewClient(newClient(t, n)).CreateTopic(ctx, 2, 1, nil, "sarama-txn"); err != nil {
		t.Fatal(err)
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Transaction.ID = "sarama-txn"
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer([]string{n.Addr().String()}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var committed, all []string
	for i := 0; i < 6; i++ {
		if err := p.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		for part := int32(0); part < 2; part++ {
			v := fmt.Sprintf("%03d-%d", i, part)
			if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "sarama-txn", Partition: part, Value: sarama.StringEncoder(v)}); err != nil {
				t.Fatalf("transaction %d: %v", i, err)
			}
			all = append(all, v)
			if i%2 == 0 {
				committed = append(committed, v)
			}
		}
		end := p.CommitTxn
		if i%2 == 1 {
			end = p.AbortTxn
		}
		if err := end(); err != nil {
			t.Fatalf("transaction %d: end: %v", i, err)
		}
	}
	for _, c := range []struct {
		isolation kgo.IsolationLevel
		want      []string
	}{{kgo.ReadCommitted(), committed}, {kgo.ReadUncommitted(), all}} {
		got := readValues(ctx, t, n, "sarama-txn", c.isolation, len(c.want))
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(c.want))) {
			t.Fatalf("read %v, want %v", got, c.want)
		}
	}
}
