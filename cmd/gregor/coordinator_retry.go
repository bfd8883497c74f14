package main

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// coordinatorRetryBackoff is the pause between two asks of a coordinator
// that is not ready.
const coordinatorRetryBackoff = 250 * time.Millisecond

// coordinatorNotReady says err is a coordinator's passing state, which
// Kafka's admin client retries until its timeout: the coordinator is not
// elected yet (COORDINATOR_NOT_AVAILABLE: the first lookup of a group
// creates __consumer_offsets, whose partitions then need leaders), is
// loading its partition, or moved. kgo hands these back from a sharded
// admin request at once.
func coordinatorNotReady(err error) bool {
	return errors.Is(err, kerr.CoordinatorNotAvailable) || errors.Is(err, kerr.CoordinatorLoadInProgress) ||
		errors.Is(err, kerr.NotCoordinator)
}

// untilCoordinatorReady runs request again while its error says the
// coordinator is not ready, until ctx (the verb's --timeout) ends; it
// returns request's last error.
func untilCoordinatorReady(ctx context.Context, request func() error) error {
	for {
		err := request()
		if !coordinatorNotReady(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(coordinatorRetryBackoff):
		}
	}
}
