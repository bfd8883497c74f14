package actors

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// producerVersionCases are the version tests of the producer APIs of the
// partition side, for TestEveryAdvertisedVersion.
func producerVersionCases(t *testing.T, n *Node) map[int16]func(ctx context.Context, v int16) error {
	return map[int16]func(ctx context.Context, v int16) error{
		int16(kmsg.WriteTxnMarkers): func(ctx context.Context, v int16) error {
			// A marker for a producer with no open transaction is written
			// all the same (coordinators retry markers).
			if code := writeMarker(ctx, t, n, v, "versions", 1<<40+int64(v), 0, v == 1); code != 0 {
				return fmt.Errorf("error %d", code)
			}
			return nil
		},
		int16(kmsg.DescribeProducers): func(ctx context.Context, v int16) error {
			describeProducers(ctx, t, n, v, "versions")
			return nil
		},
		int16(kmsg.InitProducerID): func(ctx context.Context, v int16) error {
			cl := pinnedClient(t, n, int16(kmsg.InitProducerID), v)
			var ids []int64
			for range 2 {
				req := kmsg.NewPtrInitProducerIDRequest()
				req.TransactionTimeoutMillis = 60_000
				resp, err := req.RequestWith(ctx, cl)
				if err != nil {
					return err
				}
				if resp.Version != v || resp.ErrorCode != 0 || resp.ProducerID < 0 || resp.ProducerEpoch != 0 {
					return fmt.Errorf("v%d answer %+v", resp.Version, resp)
				}
				ids = append(ids, resp.ProducerID)
			}
			if ids[0] == ids[1] {
				return fmt.Errorf("one producer id twice: %v", ids)
			}
			return nil
		},
	}
}

// initProducerID asks n for a producer id with transactional id txnID (nil
// for an idempotent producer).
func initProducerID(ctx context.Context, t *testing.T, n *Node, txnID *string) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = txnID, 60_000
	// Straight to the node: franz-go would send a transactional one to the
	// transaction coordinator it finds first.
	kresp, err := newClient(t, n).SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	resp := kresp.(*kmsg.InitProducerIDResponse)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// Producer ids come from blocks the controller commits to the metadata log:
// every id is handed out once, across blocks and across a restart (the next
// block starts past the last committed one).
func TestProducerIDsUniqueAcrossBlocksAndRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := testContext(t, 60*time.Second)
	n := startTestNode(t, dir, nil)
	cl := newClient(t, n)
	seen := map[int64]bool{}
	last := int64(-1)
	for i := 0; i < 1100; i++ { // more than one block of 1000
		resp, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || seen[resp.ProducerID] || resp.ProducerID <= last {
			t.Fatalf("InitProducerId %d: %+v (last id %d)", i, resp, last)
		}
		seen[resp.ProducerID], last = true, resp.ProducerID
	}
	cl.Close()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	n2 := startTestNode(t, dir, nil)
	if resp := initProducerID(ctx, t, n2, nil); resp.ErrorCode != 0 || resp.ProducerID <= last {
		t.Fatalf("after a restart: %+v, last id before it %d", resp, last)
	}
	empty := ""
	if resp := initProducerID(ctx, t, n2, &empty); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("empty transactional id: %+v", resp)
	}
}

// On a cluster, each broker asks the active controller (over the CONTROLLER
// listener when it is another node) for its own block: the ids of different
// brokers never collide, and after the controller fails over the next block
// starts past every block handed out before.
func TestClusterProducerIDBlocks(t *testing.T) {
	c := newTestCluster(t, 3, 0, nil)
	c.startAll()
	ctx := testContext(t, 60*time.Second)
	seen := map[int64]int{}
	ask := func(i int) int64 {
		t.Helper()
		var id int64 = -1
		waitFor(t, 30*time.Second, "a producer id", func() bool {
			resp := initProducerID(ctx, t, c.node(i), nil)
			id = resp.ProducerID
			return resp.ErrorCode == 0
		})
		if other, dup := seen[id]; dup {
			t.Fatalf("producer id %d from node %d and node %d", id, other+1, i+1)
		}
		seen[id] = i
		return id
	}
	var highest int64
	for i := 0; i < 3; i++ {
		highest = max(highest, ask(i), ask(i))
	}
	first := c.activeController()
	c.stop(first, false)
	c.activeController()
	survivor := (first + 1) % 3
	// The survivor's block is not used up: its next id comes from it. A
	// node that never asked before gets a fresh block from the new
	// controller, past every earlier one.
	ask(survivor)
	c.startAll()
	if id := ask(first); id <= highest {
		t.Fatalf("the restarted node got producer id %d, not past %d", id, highest)
	}
}
