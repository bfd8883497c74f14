package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestUntilCoordinatorReady: a request is asked again while its coordinator
// is not ready (as kgo hands back a sharded request's COORDINATOR_NOT_AVAILABLE,
// COORDINATOR_LOAD_IN_PROGRESS or NOT_COORDINATOR, wrapped), and its first
// other answer is returned; when the context ends, the last not-ready error.
func TestUntilCoordinatorReady(t *testing.T) {
	answers := []error{
		fmt.Errorf("request DescribeGroups has 1 separate shard errors, first: %w", kerr.CoordinatorNotAvailable),
		kerr.CoordinatorLoadInProgress,
		kerr.NotCoordinator,
		kerr.GroupIDNotFound,
		nil,
	}
	calls := 0
	err := untilCoordinatorReady(context.Background(), func() error {
		calls++
		return answers[calls-1]
	})
	if !errors.Is(err, kerr.GroupIDNotFound) || calls != 4 {
		t.Errorf("after %d calls: %v, want GROUP_ID_NOT_FOUND after 4", calls, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls = 0
	err = untilCoordinatorReady(ctx, func() error {
		calls++
		return kerr.CoordinatorNotAvailable
	})
	if !errors.Is(err, kerr.CoordinatorNotAvailable) || calls != 1 {
		t.Errorf("with the context ended, after %d calls: %v, want COORDINATOR_NOT_AVAILABLE after 1", calls, err)
	}
}
