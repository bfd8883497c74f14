package txn

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AskCode is the code a partition leader answers a transactional produce
// with when the coordinator answered its verification or add with code:
// the coordinator's own troubles (not the coordinator, unavailable, still
// loading, a concurrent transaction, an unknown error) become
// NOT_ENOUGH_REPLICAS, which every producer retries, as Kafka's brokers
// answer; any other code is the coordinator's own.
func AskCode(code int16) int16 {
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code,
		kerr.ConcurrentTransactions.Code, kerr.UnknownServerError.Code:
		return kerr.NotEnoughReplicas.Code
	}
	return code
}

// AnswerCode is AskCode of the code a partition (topic, partition) got in
// resp, the answer to an AddPartitionsToTxn request of one transaction (a
// broker's verification or add): the request's own error, else the
// partition's; UNKNOWN_SERVER_ERROR, so NOT_ENOUGH_REPLICAS, when resp is
// not such an answer or does not name the partition.
func AnswerCode(resp kmsg.Response, topic string, partition int32) int16 {
	r, ok := resp.(*kmsg.AddPartitionsToTxnResponse)
	code := kerr.UnknownServerError.Code
	switch {
	case !ok:
	case r.ErrorCode != 0:
		code = r.ErrorCode
	case len(r.Transactions) == 1:
		for _, t := range r.Transactions[0].Topics {
			if t.Topic != topic {
				continue
			}
			for _, p := range t.Partitions {
				if p.Partition == partition {
					code = p.ErrorCode
				}
			}
		}
	}
	return AskCode(code)
}
