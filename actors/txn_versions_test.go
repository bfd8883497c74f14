package actors

import (
	"context"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/cluster"
)

// txnProducer is a transactional id's producer id and epoch, got with
// InitProducerId through franz-go's routing (FindCoordinator key type 1).
type txnProducer struct {
	id    string
	pid   int64
	epoch int16
}

func initTxn(ctx context.Context, cl *kgo.Client, id string) (txnProducer, error) {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(id), 60_000
	resp, err := req.RequestWith(ctx, cl)
	if err == nil && resp.ErrorCode != 0 {
		err = fmt.Errorf("InitProducerId %s: %+v", id, resp)
	}
	if err != nil {
		return txnProducer{}, err
	}
	return txnProducer{id: id, pid: resp.ProducerID, epoch: resp.ProducerEpoch}, nil
}

// addPartition adds partition p of topic to the producer's transaction (a
// v3 request, as producers send it).
func (tp txnProducer) addPartition(ctx context.Context, cl *kgo.Client, topic string, p int32) error {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = tp.id, tp.pid, tp.epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{p}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	switch {
	case err != nil:
		return err
	case len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1:
		return fmt.Errorf("AddPartitionsToTxn: %+v", resp)
	}
	return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
}

// txnVersionCases drives every advertised version of the transaction APIs
// against topic "versions".
func txnVersionCases(t *testing.T, n *Node) map[int16]func(ctx context.Context, v int16) error {
	plain := newClient(t, n)
	return map[int16]func(ctx context.Context, v int16) error{
		int16(kmsg.UpdateFeatures): func(ctx context.Context, v int16) error {
			// transaction.version to the level it has: answered, nothing
			// changed.
			req := kmsg.NewPtrUpdateFeaturesRequest()
			u := kmsg.NewUpdateFeaturesRequestFeatureUpdate()
			u.Feature, u.MaxVersionLevel, u.UpgradeType = cluster.TransactionVersionFeature, 2, 1
			req.FeatureUpdates = append(req.FeatureUpdates, u)
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.UpdateFeatures), v))
			switch {
			case err != nil:
				return err
			case resp.ErrorCode != 0:
				return kerr.ErrorForCode(resp.ErrorCode)
			case v <= 1 && (len(resp.Results) != 1 || resp.Results[0].ErrorCode != 0):
				return fmt.Errorf("results %+v", resp.Results)
			}
			return nil
		},
		int16(kmsg.AddPartitionsToTxn): func(ctx context.Context, v int16) error {
			cl := pinnedClient(t, n, int16(kmsg.AddPartitionsToTxn), v)
			p, err := initTxn(ctx, plain, fmt.Sprint("add-v", v))
			if err != nil {
				return err
			}
			req := kmsg.NewPtrAddPartitionsToTxnRequest()
			if v <= 3 {
				req.TransactionalID, req.ProducerID, req.ProducerEpoch = p.id, p.pid, p.epoch
				rt := kmsg.NewAddPartitionsToTxnRequestTopic()
				rt.Topic, rt.Partitions = "versions", []int32{0}
				req.Topics = append(req.Topics, rt)
				resp, err := req.RequestWith(ctx, cl)
				if err == nil && (resp.Version != v || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0) {
					err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
				}
				return err
			}
			// The brokers' form, batched (franz-go sends one transaction
			// that only adds as v3): add, then verify.
			q, err := initTxn(ctx, plain, fmt.Sprint("add-v", v, "-b"))
			if err != nil {
				return err
			}
			for _, verify := range []bool{false, true} {
				req.Transactions = nil
				for _, x := range []txnProducer{p, q} {
					tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
					tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = x.id, x.pid, x.epoch, verify
					rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
					rt.Topic, rt.Partitions = "versions", []int32{0}
					tx.Topics = append(tx.Topics, rt)
					req.Transactions = append(req.Transactions, tx)
				}
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					return err
				}
				if resp.Version != v || len(resp.Transactions) != 2 {
					return fmt.Errorf("v%d verify=%v answer %+v", resp.Version, verify, resp)
				}
				for _, tx := range resp.Transactions {
					if tx.Topics[0].Partitions[0].ErrorCode != 0 {
						return fmt.Errorf("v%d verify=%v answer %+v", resp.Version, verify, resp)
					}
				}
			}
			return nil
		},
		int16(kmsg.AddOffsetsToTxn): func(ctx context.Context, v int16) error {
			p, err := initTxn(ctx, plain, fmt.Sprint("offsets-v", v))
			if err != nil {
				return err
			}
			req := kmsg.NewPtrAddOffsetsToTxnRequest()
			req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = p.id, p.pid, p.epoch, "g"
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.AddOffsetsToTxn), v))
			if err == nil && (resp.Version != v || resp.ErrorCode != 0) {
				err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			return err
		},
		int16(kmsg.EndTxn): func(ctx context.Context, v int16) error {
			p, err := initTxn(ctx, plain, fmt.Sprint("end-v", v))
			if err == nil {
				err = p.addPartition(ctx, plain, "versions", 1)
			}
			if err != nil {
				return err
			}
			req := kmsg.NewPtrEndTxnRequest()
			req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = p.id, p.pid, p.epoch, false
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.EndTxn), v))
			switch {
			case err != nil:
				return err
			case resp.Version != v || resp.ErrorCode != 0:
				return fmt.Errorf("v%d answer %+v", resp.Version, resp)
			case v >= 5 && (resp.ProducerID != p.pid || resp.ProducerEpoch != p.epoch+1):
				return fmt.Errorf("v%d: no epoch bump (KIP-890): %+v", v, resp)
			}
			return nil
		},
		int16(kmsg.TxnOffsetCommit): func(ctx context.Context, v int16) error {
			p, err := initTxn(ctx, plain, fmt.Sprint("txn-commit-v", v))
			if err != nil {
				return err
			}
			group := fmt.Sprint("txn-group-v", v)
			add := kmsg.NewPtrAddOffsetsToTxnRequest()
			add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = p.id, p.pid, p.epoch, group
			if resp, err := add.RequestWith(ctx, plain); err != nil || resp.ErrorCode != 0 {
				return fmt.Errorf("AddOffsetsToTxn: %v %+v", err, resp)
			}
			req := kmsg.NewPtrTxnOffsetCommitRequest()
			req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = p.id, group, p.pid, p.epoch
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = "versions"
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = 0, 1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.TxnOffsetCommit), v))
			if err == nil && (resp.Version != v || len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0) {
				err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			return err
		},
		int16(kmsg.DescribeTransactions): func(ctx context.Context, v int16) error {
			p, err := initTxn(ctx, plain, fmt.Sprint("describe-v", v))
			if err != nil {
				return err
			}
			req := kmsg.NewPtrDescribeTransactionsRequest()
			req.TransactionalIDs = []string{p.id}
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.DescribeTransactions), v))
			if err == nil && (len(resp.TransactionStates) != 1 || resp.TransactionStates[0].ErrorCode != 0 ||
				resp.TransactionStates[0].State != "Empty" || resp.TransactionStates[0].ProducerID != p.pid) {
				err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			return err
		},
		int16(kmsg.ListTransactions): func(ctx context.Context, v int16) error {
			p, err := initTxn(ctx, plain, fmt.Sprint("list-v", v))
			if err != nil {
				return err
			}
			req := kmsg.NewPtrListTransactionsRequest()
			req.ProducerIDFilters = []int64{p.pid}
			if v >= 2 {
				req.TransactionalIDPattern = kmsg.StringPtr("^list-v")
			}
			resp, err := req.RequestWith(ctx, pinnedClient(t, n, int16(kmsg.ListTransactions), v))
			if err == nil && (resp.Version != v || resp.ErrorCode != 0 || len(resp.TransactionStates) != 1 ||
				resp.TransactionStates[0].TransactionalID != p.id) {
				err = fmt.Errorf("v%d answer %+v", resp.Version, resp)
			}
			return err
		},
	}
}
