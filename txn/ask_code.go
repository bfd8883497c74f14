package txn

import "github.com/twmb/franz-go/pkg/kerr"

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
