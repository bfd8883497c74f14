package benchmarks

import (
	"fmt"
	"testing"
)

// BenchmarkTransactionsReplicated is BenchmarkTransactions' ratio cell on
// the three-node cluster of BenchmarkReplicatedProduce: producers
// transactional producers (transactions of txnRecords records of 100 B)
// against as many idempotent ones, acks=all, into a fresh topic of 6
// partitions at replication factor 3 (min.insync.replicas=2). The
// transactions' coordinators are spread over the nodes, so most markers
// go to another broker in WriteTxnMarkers requests, which each node
// batches per leader (actors/txn_marker_sender.go); CPU per record is the
// three brokers' summed. There is no reference: kfake does not replicate.
func BenchmarkTransactionsReplicated(b *testing.B) {
	set := recordSet{name: "100B", n: scaled(100_000), size: 100}
	for _, producers := range []int{1, 4} {
		name := fmt.Sprintf("rec=%s/parts=6/rf=3/producers=%d/mode=ratio/gregor-cluster", set.name, producers)
		b.Run(name, func(b *testing.B) {
			t := replicatedCluster(b)
			benchTxnRatioOn(b, t, set, producers, func() string { return createReplicatedTopic(b, t, 6, 3) },
				func(topic string) { dropTopics(b, t, topic) })
		})
	}
}
